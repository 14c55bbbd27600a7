import { expect } from 'chai';
import { SANDBOX_CREDENTIALS } from '../../config/index.js';
import { spawnCommand, type CommandProcess } from '../support/command-process.js';
import { postMessage, sandboxCall, textBody } from '../support/sandbox-http.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { WaitAborted, waitFor } from '../support/wait-for.js';

/** `npm run sandbox` on its own: the retry setting and `--persist`, as a user runs them. */
describe('npm run sandbox: webhook retries and --persist', function () {
  this.timeout(120_000);
  const dbName = testDatabaseName('sandbox-cli-state');
  const running: CommandProcess[] = [];
  const env = () => ({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName });

  async function startSandbox(args: string[]): Promise<{ process: CommandProcess; url: string }> {
    const sandbox = spawnCommand('sandbox.ts', env(), ['--port', '0', ...args]);
    running.push(sandbox);
    const url = await waitFor('the sandbox to listen', () => {
      if (sandbox.child.exitCode !== null) throw new WaitAborted(`the sandbox exited: ${sandbox.stderr}`);
      return /WhatsApp sandbox listening on (http:\/\/\S+)/.exec(sandbox.stdout)?.[1];
    }, 60_000);
    return { process: sandbox, url };
  }

  async function stop(sandbox: CommandProcess): Promise<void> {
    sandbox.child.kill('SIGTERM');
    expect((await sandbox.exited).code).to.equal(0);
  }

  after(async () => {
    for (const sandbox of running) {
      if (sandbox.child.exitCode === null && sandbox.child.signalCode === null) sandbox.child.kill('SIGKILL');
      await sandbox.exited;
    }
    await dropTestDatabase(dbName);
  });

  it('--help documents --webhook-retry-for (with its default) and --persist', async () => {
    const result = await spawnCommand('sandbox.ts', env(), ['--help']).exited;
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/--webhook-retry-for MS .*retried/);
    expect(result.stdout).to.include('SANDBOX_WEBHOOK_RETRY_FOR_MS, 86400000');
    expect(result.stdout).to.match(/--persist .*across restarts/);
  });

  it('refuses a --webhook-retry-for that is not a duration up to 7 days, saying what is expected', async () => {
    for (const value of ['-5', '1h', '604800001']) {
      const result = await spawnCommand('sandbox.ts', env(), ['--webhook-retry-for', value]).exited;
      expect(result.code, value).to.equal(2);
      expect(result.stderr.trim()).to.equal(`error: --webhook-retry-for: expected an integer from 0 to 604800000, got ${JSON.stringify(value)} (see npm run sandbox -- --help)`);
    }
  });

  it('--help documents the fidelity settings with their defaults, and bad values are refused with exit code 2', async () => {
    const help = await spawnCommand('sandbox.ts', env(), ['--help']).exited;
    expect(help.stdout).to.include('default SANDBOX_OUTSIDE_WINDOW, failed-status');
    for (const setting of ['--status-batch N', 'SANDBOX_STATUS_BATCH, 1', '--out-of-order R', 'SANDBOX_OUT_OF_ORDER, 0', '--duplicate-webhooks R', 'SANDBOX_DUPLICATE_WEBHOOKS, 0', '--webhook-delay MS', 'SANDBOX_WEBHOOK_DELAY_MS, 0']) {
      expect(help.stdout).to.include(setting);
    }
    for (const [flag, value, expected] of [['--status-batch', '0', 'an integer from 1 to 1000'], ['--out-of-order', '2', 'a number from 0 to 1'], ['--duplicate-webhooks', 'x', 'a number from 0 to 1'], ['--webhook-delay', '-1', 'an integer from 0 to 600000']]) {
      const result = await spawnCommand('sandbox.ts', env(), [flag ?? '', value ?? '']).exited;
      expect(result.code, flag).to.equal(2);
      expect(result.stderr.trim()).to.equal(`error: ${flag ?? ''}: expected ${expected ?? ''}, got ${JSON.stringify(value)} (see npm run sandbox -- --help)`);
    }
    const untidy = await startSandbox(['--outside-window', 'error', '--status-batch', '5', '--out-of-order', '0.2', '--duplicate-webhooks', '0.5', '--webhook-delay', '250']);
    expect(untidy.process.stdout).to.include('outside window: error, up to 5 statuses per POST, read before delivered 0.2, duplicates 0.5, delays up to 250 ms)');
    await stop(untidy.process);
  });

  it('with --persist, a window and the messages survive a stop and a start; without it they do not', async () => {
    const to = '4915200000041';
    const send = (url: string) => postMessage(url, SANDBOX_CREDENTIALS.phoneNumberId, SANDBOX_CREDENTIALS.token, textBody(to, 'Hallo', 'cli-1'));
    // The window is checked on the synchronous answer: a send outside it is refused at once.
    const first = await startSandbox(['--persist', '--outside-window', 'error']);
    expect(first.process.stdout).to.include(`state: kept in database ${dbName}`);
    expect((await sandboxCall(first.url, 'POST', '/_sandbox/inbound', { from: to, text: 'Fallzahlen' })).status).to.equal(200);
    const sent = await send(first.url);
    expect(sent.status).to.equal(200);
    await stop(first.process);

    const second = await startSandbox(['--persist', '--outside-window', 'error']);
    const listed = await sandboxCall<{ messages: { wamid: string }[] }>(second.url, 'GET', `/_sandbox/messages?to=${to}`);
    expect(listed.body.messages.map((m) => m.wamid)).to.deep.equal([sent.body.messages?.[0]?.id]);
    expect((await send(second.url)).status, 'the window is still open').to.equal(200);
    await stop(second.process);

    const inMemory = await startSandbox(['--outside-window', 'error']);
    expect(inMemory.process.stdout).to.include('state: in memory');
    expect((await send(inMemory.url)).body.error?.code).to.equal(131047);
    await stop(inMemory.process);
  });
});
