import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
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
    expect(result.stdout).to.match(/estimated cost:\s+0\.\d\d EUR/);
    expect(await client.db(dbName).collection(BROADCASTS).countDocuments()).to.equal(0);
  });

  it('--dry-run --json prints one JSON object with the same numbers', async () => {
    const result = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--dry-run', '--json']);
    expect(result.code).to.equal(0);
    const plan = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(plan).to.deep.include({ dryRun: true, topic: 'fallzahlen', session: 0, template: 3, skipped: { 'pending-consent': 1 }, currency: 'EUR' });
  });

  for (const [name, args, message] of [
    ['an unknown topic', ['--topic', 'wetter', '--text', 'Hallo'], /unknown topic "wetter" \(known: fallzahlen\)/],
    ['missing placeholder data', ['--topic', 'fallzahlen', '--text', 'Neue Zahlen: {cases}'], /missing data for \{cases\} in the --text/],
    ['a text over 4,096 characters', ['--topic', 'fallzahlen', '--text', 'x'.repeat(4097), '--data', data], /4097 characters, more than WhatsApp's 4096/],
    ['a template that does not exist', ['--topic', 'fallzahlen', '--data', data, '--template', 'nope'], /no template "nope"/],
    ['a bad flag', ['--topic', 'fallzahlen', '--data', data, '--bogus'], /Unknown option '--bogus'/],
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
  });
});
