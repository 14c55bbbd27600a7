import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { isProcessAlive } from '../../src/store/server/processes.js';
import { runPublish } from '../support/publish-process.js';
import { seedSubscribers } from '../support/seed.js';
import { testDatabaseName, testServer } from '../support/test-server.js';

describe('npm run publish: the command line', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'publish-'));
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify({ date: '2026-11-20T09:00:00Z', cases: 1234567, new_cases: 89 }));
  const dbName = testDatabaseName('publish-cli');
  let client: MongoClient;
  const env = () => ({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName, LOG_LEVEL: 'warn' });

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    await seedSubscribers(client.db(dbName), { count: 3, from: 70000000 });
    await seedSubscribers(client.db(dbName), { count: 1, from: 70000010, state: 'pending' });
    // One whom pruning removed: counted apart from the three subscribers.
    const [pruned] = await seedSubscribers(client.db(dbName), { count: 1, from: 70000020 });
    await client.db(dbName).collection<{ _id: string }>(CONTACTS).updateOne({ _id: pruned as string }, { $set: { status: 'lapsed', 'subscriptions.fallzahlen.state': 'unsubscribed', 'subscriptions.fallzahlen.source': 'prune', 'subscriptions.fallzahlen.reason': 'no-reply' } });
  });
  after(async () => {
    await client.db(dbName).dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run prints the plan and the estimated cost, and stores nothing', async () => {
    const result = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--dry-run']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/dry run for topic fallzahlen: nothing sent/);
    expect(result.stdout).to.match(/templates \(daily_update, UTILITY\):\s+3/);
    expect(result.stdout).to.match(/pending-consent\s+1/);
    expect(result.stdout).to.match(/pruned\s+1/);
    expect(result.stdout).to.match(/estimated cost:\s+0\.\d\d EUR/);
    expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(0);
  });

  it('--dry-run --json prints one JSON object with the same numbers', async () => {
    const result = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--dry-run', '--json']);
    expect(result.code).to.equal(0);
    const plan = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(plan).to.deep.include({ dryRun: true, topic: 'fallzahlen', session: 0, template: 3, skipped: { 'pending-consent': 1, pruned: 1 }, currency: 'EUR' });
  });

  for (const [name, args, message] of [
    ['an unknown topic', ['--topic', 'wetter', '--text', 'Hallo'], /unknown topic "wetter" \(known: fallzahlen\)/],
    ['missing placeholder data', ['--topic', 'fallzahlen', '--text', 'Neue Zahlen: {cases}'], /missing data for \{cases\} in the --text/],
    ['a text over 4,096 characters', ['--topic', 'fallzahlen', '--text', 'x'.repeat(4097), '--data', data], /4097 characters, more than WhatsApp's 4096/],
    ['a template that does not exist', ['--topic', 'fallzahlen', '--data', data, '--template', 'nope'], /no template "nope"/],
    ['a bad flag', ['--topic', 'fallzahlen', '--data', data, '--bogus'], /unknown option --bogus \(see npm run publish -- --help\)/],
    ['neither text nor data', ['--topic', 'fallzahlen'], /give --text or --data/],
  ] as const) {
    it(`refuses ${name} with exit code 2 and one line, storing nothing`, async () => {
      const result = await runPublish(env(), [...args]);
      expect(result.code).to.equal(2);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
      expect(result.stderr).to.match(message);
      expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(0);
    });
  }

  it('above the budget without --yes and without a terminal: refuses with exit code 3', async () => {
    const result = await runPublish({ ...env(), PUBLISH_BUDGET: '0.01' }, ['--topic', 'fallzahlen', '--data', data]);
    expect(result.code).to.equal(3);
    expect(result.stderr).to.match(/above PUBLISH_BUDGET 0\.01: run again with --yes/);
    expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(0);
  });

  it('with --json, refusals are one JSON object on stdout with the exit code (budget, bad flag, unknown id)', async () => {
    for (const [args, code, message] of [
      [['--topic', 'fallzahlen', '--data', data, '--json'], 3, /above PUBLISH_BUDGET 0\.01: run again with --yes/],
      [['--topic', 'fallzahlen', '--data', data, '--json', '--bogus'], 2, /^unknown option --bogus$/],
      [['--resume', 'nosuchid', '--json'], 2, /^no broadcast with id nosuchid$/],
    ] as const) {
      const result = await runPublish({ ...env(), PUBLISH_BUDGET: '0.01' }, [...args]);
      expect(result.code, result.stderr).to.equal(code);
      expect(result.stdout.trim().split('\n'), result.stdout).to.have.length(1);
      const answer = JSON.parse(result.stdout) as { error: { message: string; exitCode: number } };
      expect(answer.error.exitCode).to.equal(code);
      expect(answer.error.message).to.match(message);
    }
    expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(0);
  });

  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runPublish(env(), ['--version']);
    expect(result.code).to.equal(0);
    expect(result.stdout.trim()).to.equal(version);
  });

  it('publishes once; the same content again prints the existing broadcast; --status reports it', async () => {
    const first = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--json']);
    expect(first.code, first.stderr).to.equal(0);
    const created = JSON.parse(first.stdout) as { created: boolean; id: string };
    expect(created.created).to.equal(true);
    const again = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--json']);
    const existing = JSON.parse(again.stdout) as { created: boolean; id: string };
    expect(existing).to.deep.include({ created: false, id: created.id });
    expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(1);
    const status = await runPublish(env(), ['--status', created.id]);
    expect(status.code).to.equal(0);
    expect(status.stdout).to.include(`broadcast ${created.id} (topic fallzahlen`);
    expect(status.stdout).to.match(/status:\s+planning/);
    const missing = await runPublish(env(), ['--status', 'nope']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('no broadcast with id nope');

    await client.db(dbName).collection<{ _id: string; status: string }>(BROADCASTS).updateOne({ _id: created.id }, { $set: { status: 'done' } });
    const finished = await runPublish(env(), ['--resume', created.id]);
    expect(finished.code, finished.stderr).to.equal(2);
    expect(finished.stderr.trim()).to.equal(`error: broadcast ${created.id} is done, not paused`);
  });
});

describe('npm run publish without MONGODB_URI: the local database server', function () {
  this.timeout(3 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'publish-local-'));
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify({ date: '2026-11-20T09:00:00Z', cases: 1234567, new_cases: 89 }));
  const env = { LOCAL_DB_DIR: join(dir, 'db'), MONGODB_DB: 'publish_local_test', LOG_LEVEL: 'warn' };
  const serverStates = () => ['mongo-java-server', 'mongod', 'memory-server'].map((kind) => join(dir, 'db', kind, 'server.json')).filter((file) => existsSync(file));

  after(() => {
    for (const file of serverStates()) {
      const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
      if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  // Each run starts the local server, uses it and stops it: the last operation must end before
  // the connection closes, and nothing may be left running or listed as a user afterwards.
  for (const [name, args, code, expected] of [
    ['--dry-run prints the plan', ['--topic', 'fallzahlen', '--data', data, '--dry-run'], 0, /dry run for topic fallzahlen: nothing sent/],
    ['--dry-run --json prints the plan as JSON', ['--topic', 'fallzahlen', '--data', data, '--dry-run', '--json'], 0, /^\{"dryRun":true,/],
    ['--resume of an unknown id says so in one line', ['--resume', 'nosuchid'], 2, /^error: no broadcast with id nosuchid$/],
  ] as const) {
    it(`${name}, exits ${code} and stops the server it started`, async () => {
      const result = await runPublish(env, [...args]);
      expect(result.code, result.stderr).to.equal(code);
      expect(result.stderr).not.to.match(/\bat .*\.ts:\d+|Error:|MongoClientClosedError|PoolClosedError/);
      expect(code === 0 ? result.stdout : result.stderr.trim()).to.match(expected);
      expect(serverStates(), 'server.json left behind').to.deep.equal([]);
    });
  }
});
