import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { freePort } from '../../src/store/server/processes.js';
import { spawnCommand } from '../support/command-process.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

interface StoredContact {
  _id: string;
  subscriptions: Record<string, { state: string; consent?: { source: string } }>;
}

interface ListedMessage {
  type: string;
  body: string;
  buttons?: { id: string; title: string; press: unknown }[];
}

/** `npm run seed -- ARGS` as a process; resolves with its exit code and output. */
const runSeed = (env: Record<string, string>, args: string[]) => spawnCommand('seed.ts', env, args).exited;

/**
 * A new user's first hour with the built-in sandbox of a running worker process: finding the
 * consent question's buttons, pressing one, and making test subscribers with `npm run seed`.
 */
describe('npm run seed and the consent buttons, against a running worker and its built-in sandbox', function () {
  this.timeout(6 * 60_000);
  const dbName = testDatabaseName('seed-cli');
  let client: MongoClient;
  let db: Db;
  let worker: WorkerProcess;
  let workerUrl: string;
  let sandboxUrl: string;
  const env = () => ({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName, LOG_LEVEL: 'warn' });
  const contact = (phone: string) => db.collection<StoredContact>(CONTACTS).findOne({ _id: phone });

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(dbName);
    worker = spawnWorker({ ...env(), LOG_LEVEL: 'info' });
    workerUrl = await worker.url(180_000);
    // What a user reads in the worker's first log lines.
    sandboxUrl = await waitFor('the sandbox URL in the worker log', () => worker.lines.map((l) => /WhatsApp sandbox listening on (http:\/\/[^\s"\\]+)/.exec(l)?.[1]).find(Boolean), 10_000);
  });
  after(async () => {
    if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
    await worker.exited;
    await db.dropDatabase();
    await client.close();
  });

  it('the README way: the consent question is listed with its button ids, and a tap by id alone subscribes', async () => {
    const from = '4915112345678';
    const post = (body: unknown) => fetch(`${sandboxUrl}/_sandbox/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ from, text: 'Fallzahlen' })).status).to.equal(200);
    const question = await waitFor('the consent question', async () => {
      const { messages } = (await (await fetch(`${sandboxUrl}/_sandbox/messages?to=${from}`)).json()) as { messages: ListedMessage[] };
      return messages.find((m) => m.type === 'interactive');
    }, 60_000, 200);
    expect(question.buttons?.map((b) => [b.id, b.title])).to.deep.equal([['yes:fallzahlen', 'Ja'], ['no:fallzahlen', 'Nein']]);

    const wrong = await post({ from, button: { id: 'yes' } });
    expect(wrong.status).to.equal(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).to.include('its buttons: "yes:fallzahlen" (Ja), "no:fallzahlen" (Nein)');
    expect((await post({ from, button: { id: 'yes:fallzahlen' } })).status).to.equal(200);
    await waitFor('the contact to be subscribed', async () => (await contact(`+${from}`))?.subscriptions.fallzahlen?.state === 'subscribed', 60_000, 200);
    expect((await contact(`+${from}`))?.subscriptions.fallzahlen?.consent?.source).to.equal('button');
  });

  it('--count N --json makes N confirmed subscribers through the sandbox and prints how many as JSON', async () => {
    const result = await runSeed(env(), ['--count', '5', '--sandbox', sandboxUrl, '--json']);
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.equal({ topic: 'fallzahlen', created: 5, alreadySubscribed: 0, first: '+12015550100', last: '+12015550104' });
    const phones = ['+12015550100', '+12015550101', '+12015550102', '+12015550103', '+12015550104'];
    const seeded = await db.collection<StoredContact>(CONTACTS).find({ _id: { $in: [...phones, '+12015550105'] } }).sort({ _id: 1 }).toArray();
    expect(seeded.map((c) => [c._id, c.subscriptions.fallzahlen?.state, c.subscriptions.fallzahlen?.consent?.source])).to.deep.equal(phones.map((phone) => [phone, 'subscribed', 'button']));
  });

  it('run again, it creates only the numbers not subscribed yet; text on stdout, plain progress lines on stderr', async () => {
    const result = await runSeed(env(), ['--count', '6', '--sandbox', sandboxUrl, '--topic', 'fallzahlen']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.trim()).to.equal('created 1 confirmed test subscribers of topic fallzahlen (5 of the 6 test numbers were subscribed already): +12015550100 to +12015550105');
    expect(result.stderr).to.match(/^6\/6 test subscribers of fallzahlen$/m);
    expect((await contact('+12015550105'))?.subscriptions.fallzahlen?.state).to.equal('subscribed');
  });

  it('refuses bad flags the shared way: one line, exit code 2, JSON under --json', async () => {
    const closed = await freePort();
    for (const [args, message] of [
      [['--sandbox', 'http://127.0.0.1:1'], /^error: give --count N \(see npm run seed -- --help\)$/],
      [['--count', '0', '--sandbox', 'http://127.0.0.1:1'], /^error: --count: expected a whole number from 1 to \d+, got "0"/],
      [['--count', 'many', '--sandbox', 'http://127.0.0.1:1'], /^error: --count: expected a whole number/],
      [['--count', '1', '--bogus'], /^error: unknown option --bogus \(see npm run seed -- --help\)$/],
      [['--count', '1', '--topic', 'wetter', '--sandbox', sandboxUrl], /^error: --topic: unknown topic "wetter" \(known: fallzahlen\)/],
      [['--count', '1'], /^error: give --sandbox URL: the running worker logs it at start/],
      [['--count', '1', '--sandbox', 'ftp://x'], /^error: --sandbox: expected an http\(s\) URL/],
      [['--count', '1', '--sandbox', `http://127.0.0.1:${closed}`], /^error: no WhatsApp sandbox answers at http:\/\/127\.0\.0\.1:\d+ \(.*\): is the worker running/],
      [['--count', '1', '--sandbox', workerUrl], /^error: http:\/\/127\.0\.0\.1:\d+ is not a WhatsApp sandbox: GET \/_sandbox\/messages/],
    ] as const) {
      const result = await runSeed(env(), [...args]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(2);
      expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1);
      expect(result.stderr.trim()).to.match(message);
      expect(result.stdout).to.equal('');
    }
    const json = await runSeed(env(), ['--count', 'x', '--json']);
    expect(json.code).to.equal(2);
    const answer = JSON.parse(json.stdout) as { error: { message: string; exitCode: number } };
    expect(answer.error.exitCode).to.equal(2);
    expect(answer.error.message).to.match(/^--count: expected a whole number from 1 to \d+, got "x"$/);
  });
});
