import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { isProcessAlive } from '../../src/store/server/processes.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { startUnreapedServer, type UnreapedServer } from '../support/unreaped-server.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

async function healthStatus(url: string): Promise<number> {
  return (await fetch(`${url}/healthz`)).status;
}

/** A server holding a port on 127.0.0.1, as another program would. */
async function occupyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Whether something accepts TCP connections at host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Error lines a command printed (`error: ...`). */
const errorLines = (worker: WorkerProcess): string[] => worker.lines.filter((l) => l.startsWith('error:'));

describe('npm start: the worker as a process', function () {
  this.timeout(60_000);
  const running: WorkerProcess[] = [];
  const databases: string[] = [];
  const start = (env: Record<string, string | undefined>, args: string[] = []): WorkerProcess => {
    const worker = spawnWorker(env, args);
    running.push(worker);
    return worker;
  };
  const database = (name: string): string => {
    const dbName = testDatabaseName(name);
    databases.push(dbName);
    return dbName;
  };

  afterEach(async () => {
    for (const worker of running.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    for (const name of databases.splice(0)) await dropTestDatabase(name);
  });

  it('serves /healthz and stops cleanly with exit code 0 on SIGTERM', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('sigterm') });
    const url = await worker.url();
    expect(await healthStatus(url)).to.equal(200);
    const sent = Date.now();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).to.equal(0);
    expect(Date.now() - sent).to.be.below(10_000);
    expect(worker.lines.some((l) => l.includes('"message":"stopped"'))).to.equal(true);
  });

  it('caps its heap as npm start does, and NODE_OPTIONS raises the cap', async () => {
    const heapLimitMb = (w: WorkerProcess): number => (JSON.parse(w.lines.find((l) => l.includes('worker listening on')) ?? '{}') as { heapLimitMb?: number }).heapLimitMb ?? NaN;
    const capped = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('heap-cap') });
    const raised = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('heap-raised'), NODE_OPTIONS: '--max-old-space-size=2048' });
    await Promise.all([capped.url(), raised.url()]);
    // The old generation's cap plus the young generation (three 8 MB semi-spaces on node 20).
    expect(heapLimitMb(capped)).to.be.within(1024, 1100);
    expect(heapLimitMb(raised)).to.be.within(2048, 2124);
  });

  it('treats the doubled SIGINT of one Ctrl-C as one and still stops cleanly', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('sigint') });
    await worker.url();
    worker.child.kill('SIGINT');
    worker.child.kill('SIGINT'); // the terminal and npm both deliver it
    expect(await worker.exited).to.equal(0);
    expect(worker.lines.join('\n')).not.to.include('exiting now');
  });

  it('refuses a bad configuration value with one line naming the variable', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, PORT: 'eighty' });
    expect(await worker.exited).to.equal(78);
    const output = worker.lines.filter((l) => l.trim() !== '');
    expect(output).to.deep.equal(['error: invalid configuration: PORT="eighty" (expected an integer from 0 to 65535)']);
  });

  it('prints usage for --help and exits 0 without starting anything', async () => {
    const worker = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/' }, ['--help']);
    expect(await worker.exited).to.equal(0);
    expect(worker.lines[0]).to.equal('Usage: npm start');
  });

  it('prints the version of package.json for --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const worker = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/' }, ['--version']);
    expect(await worker.exited).to.equal(0);
    expect(worker.lines.filter((l) => l.trim() !== '')).to.deep.equal([version]);
  });

  it('refuses an unknown flag with one line and exit code 2, starting nothing', async () => {
    const worker = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/' }, ['--prot', '4000']);
    expect(await worker.exited).to.equal(2);
    expect(worker.lines.filter((l) => l.trim() !== '')).to.deep.equal(['error: unknown option --prot (see npm start -- --help)']);
  });

  describe('a mistake in a configuration file stops the start with one line naming it, exit code 78', () => {
    const dir = mkdtempSync(join(tmpdir(), 'worker-config-'));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"currency": "EUR", ');
    const broadcasts = JSON.parse(readFileSync(new URL('../../config/broadcasts.json', import.meta.url), 'utf8')) as { topics: Record<string, { sessionText: string }> };
    broadcasts.topics.fallzahlen!.sessionText = 'Neue Zahlen: {cases}, Inzidenz {incidence}';
    const unknownPlaceholder = join(dir, 'broadcasts.json');
    writeFileSync(unknownPlaceholder, JSON.stringify(broadcasts));
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const [name, env, message] of [
      ['a missing TOPICS_FILE', { TOPICS_FILE: join(dir, 'missing.json') }, /^error: cannot read topics file .*missing\.json: ENOENT/],
      ['a broken TOPICS_FILE', { TOPICS_FILE: broken }, /^error: invalid topics file .*broken\.json: not JSON/],
      ['a missing RATE_CARD_FILE', { RATE_CARD_FILE: join(dir, 'missing.json') }, /^error: cannot read the rate card .*missing\.json: ENOENT/],
      ['a broken RATE_CARD_FILE', { RATE_CARD_FILE: broken }, /^error: cannot read the rate card .*broken\.json: /],
      ['an unknown {placeholder} in BROADCASTS_FILE', { BROADCASTS_FILE: unknownPlaceholder }, /^error: invalid .*broadcasts\.json: topics\.fallzahlen\.sessionText: unknown placeholder \{incidence\} \(declared in fields: date, cases, new_cases\)$/],
    ] as const) {
      it(name, async () => {
        const worker = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/', ...env });
        expect(await worker.exited).to.equal(78);
        const output = worker.lines.filter((l) => l.trim() !== '');
        expect(output, output.join('\n')).to.have.length(1);
        expect(output[0]).to.match(message);
      });
    }
  });

  it('names PORT when the port is in use, exit code 78', async () => {
    const taken = await occupyPort();
    try {
      const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('port-in-use'), PORT: String(taken.port) });
      expect(await worker.exited).to.equal(78);
      expect(errorLines(worker)).to.deep.equal([`error: PORT=${taken.port}: the port is already in use on 127.0.0.1 (set PORT to a free port, or 0 to pick one)`]);
    } finally {
      taken.server.close();
    }
  });

  it('names SANDBOX_PORT when the built-in sandbox cannot have its port, exit code 78', async () => {
    const taken = await occupyPort();
    try {
      const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('sandbox-port-in-use'), SANDBOX_PORT: String(taken.port) });
      expect(await worker.exited).to.equal(78);
      expect(errorLines(worker)).to.deep.equal([`error: SANDBOX_PORT=${taken.port}: the port is already in use on 127.0.0.1 (set SANDBOX_PORT to a free port, or 0 to pick one)`]);
    } finally {
      taken.server.close();
    }
  });

  it('with the built-in sandbox and no HOST, listens on 127.0.0.1 only (the sandbox app secret is public)', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('host-default'), HOST: undefined });
    const url = await worker.url();
    const port = Number(new URL(url).port);
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) expect(await accepts(external.address, port), `reachable on ${external.address}`).to.equal(false);
    expect(await accepts('127.0.0.1', port)).to.equal(true);
    const line = worker.lines.find((l) => l.includes('worker listening on')) ?? '';
    expect((JSON.parse(line) as { listening?: string }).listening).to.equal('127.0.0.1 only');
  });
});

describe('npm start without MONGODB_URI: the local database server', function () {
  this.timeout(5 * 60_000);
  let dataDir: string;
  const running: WorkerProcess[] = [];

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'optin-local-'));
  });

  after(async () => {
    for (const worker of running) {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    for (const kind of ['mongo-java-server', 'mongod', 'memory-server']) {
      const stateFile = join(dataDir, kind, 'server.json');
      if (existsSync(stateFile)) {
        const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
        if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('two workers started at once share one server, which stops with the last of them', async () => {
    const env = { MONGODB_URI: undefined, LOCAL_DB_DIR: dataDir, MONGODB_DB: 'local_share_test' };
    const a = spawnWorker(env);
    const b = spawnWorker(env);
    running.push(a, b);
    const [urlA, urlB] = await Promise.all([a.url(4 * 60_000), b.url(4 * 60_000)]);
    expect(await healthStatus(urlA)).to.equal(200);
    expect(await healthStatus(urlB)).to.equal(200);

    const kind = ['mongo-java-server', 'mongod', 'memory-server'].find((k) => existsSync(join(dataDir, k, 'server.json')));
    expect(kind, 'a server.json in the data folder').to.be.a('string');
    const stateFile = join(dataDir, kind!, 'server.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; users: number[] };
    expect(state.users).to.have.members([a.child.pid, b.child.pid]);
    expect(isProcessAlive(state.pid)).to.equal(true);

    let sent = Date.now();
    a.child.kill('SIGTERM');
    expect(await a.exited).to.equal(0);
    expect(Date.now() - sent, 'time for the first worker to stop').to.be.below(5000);
    expect(isProcessAlive(state.pid), 'server still running for the other worker').to.equal(true);
    expect(await healthStatus(urlB)).to.equal(200);

    sent = Date.now();
    b.child.kill('SIGTERM');
    expect(await b.exited).to.equal(0);
    expect(Date.now() - sent, 'time for the last worker to stop').to.be.below(5000);
    await waitFor('the shared server to stop with its last user', () => !isProcessAlive(state.pid), 15_000);
    expect(existsSync(stateFile)).to.equal(false);
  });

  describe('the last worker out stops a server it did not start', () => {
    let server: UnreapedServer | undefined;
    let ownDir: string;
    beforeEach(() => {
      ownDir = mkdtempSync(join(tmpdir(), 'optin-unreaped-'));
    });
    afterEach(() => {
      server?.dispose();
      rmSync(ownDir, { recursive: true, force: true });
    });

    // The server's parent is gone or does not reap it (a container without an init): once it has
    // exited it is a zombie until someone reaps it, and the worker must not wait for that.
    for (const busy of [false, true]) {
      it(`${busy ? 'while draining inbound messages' : 'idle'}: stops well inside SHUTDOWN_TIMEOUT_MS, stops the server and leaves no server.json`, async () => {
        server = await startUnreapedServer(ownDir);
        const worker = spawnWorker({ MONGODB_URI: undefined, LOCAL_DB_DIR: ownDir, MONGODB_DB: 'local_unreaped_test', SHUTDOWN_TIMEOUT_MS: '10000' });
        running.push(worker);
        await worker.url(60_000);
        expect((JSON.parse(readFileSync(server.stateFile, 'utf8')) as { users: number[] }).users).to.deep.equal([worker.child.pid]);
        if (busy) {
          const sandbox = /WhatsApp sandbox listening on (http:\/\/[\d.:]+)/.exec(worker.lines.join('\n'))?.[1] ?? '';
          const inbound = Array.from({ length: 40 }, (_, i) =>
            fetch(`${sandbox}/_sandbox/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: `4915112${String(300000 + i)}`, text: 'Fallzahlen' }) }).catch(() => undefined));
          await waitFor('the first inbound message to be handled', () => worker.lines.some((l) => l.includes('inbound handled')), 30_000);
          void Promise.all(inbound);
        }
        const sent = Date.now();
        worker.child.kill('SIGTERM');
        expect(await worker.exited, worker.lines.slice(-3).join('\n')).to.equal(0);
        expect(Date.now() - sent, 'time to stop').to.be.below(5000);
        expect(worker.lines.join('\n')).not.to.include('graceful stop took longer');
        expect(['Z', 'gone'], `server process state ${server.state()}`).to.include(server.state());
        expect(existsSync(server.stateFile), 'server.json still lists the stopped worker').to.equal(false);
      });
    }
  });
});
