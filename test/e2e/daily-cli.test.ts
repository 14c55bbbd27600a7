import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { DAILY_RUNS } from '../../src/store/daily-run-repository.js';
import { spawnCommand } from '../support/command-process.js';
import { casesAnswer, dailyRunsFile, startDataSource, type DataSource } from '../support/data-source.js';
import { seedSubscribers } from '../support/seed.js';
import { testDatabaseName, testServer } from '../support/test-server.js';

interface RunJson {
  claimed: boolean;
  run: { id: string; state: string; trigger: string; broadcastId?: string; reason?: string; recipients?: { template: number } };
}

/** `npm run daily` as the operator meets it: a process, its output and its exit code. */
describe('npm run daily: the daily run by hand, and its history', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'daily-cli-'));
  const file = join(dir, 'daily-runs.json');
  const [dbName, otherDb] = [testDatabaseName('daily-cli'), testDatabaseName('daily-cli-budget')];
  let client: MongoClient;
  let source: DataSource;
  const env = (db = dbName) => ({ MONGODB_URI: testServer().uri, MONGODB_DB: db, LOG_LEVEL: 'warn', DAILY_RUNS_FILE: file, TEST_SOURCE_TOKEN: 'cli-token-1234' });
  const daily = (args: string[], extra: Record<string, string> = {}, db?: string) => spawnCommand('daily.ts', { ...env(db), ...extra }, args).exited;
  const broadcasts = (db = dbName) => client.db(db).collection<{ _id: string; key: string }>(BROADCASTS).find().toArray();

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    for (const db of [dbName, otherDb]) await seedSubscribers(client.db(db), { count: 2, from: 62000000 });
    source = await startDataSource();
    source.answer(casesAnswer('2025-11-20', 2000, 20));
    writeFileSync(file, dailyRunsFile(source.url));
  });
  after(async () => {
    await source.stop();
    for (const db of [dbName, otherDb]) await client.db(db).dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--now publishes new data through the publish path under the slot\'s key; run again, it publishes nothing', async () => {
    const first = await daily(['--topic', 'fallzahlen', '--now', '--json']);
    expect(first.code, first.stderr).to.equal(0);
    const { claimed, run } = JSON.parse(first.stdout) as RunJson;
    expect(claimed).to.equal(true);
    expect(run).to.deep.include({ state: 'published', trigger: 'manual' });
    expect(run.recipients?.template).to.equal(2);
    const stored = await broadcasts();
    expect(stored.map((b) => [b._id, b.key])).to.deep.equal([[run.broadcastId, `daily:fallzahlen:${run.id.split('@')[1]}`]]);
    expect(source.lastHeaders?.authorization).to.equal('Bearer cli-token-1234');

    const again = await daily(['--topic', 'fallzahlen', '--now']);
    expect(again.code, again.stderr).to.equal(0);
    // Within the same minute it is the same claim; in the next, the same data.
    expect(again.stdout).to.match(/was claimed already \(it is finished\): published broadcast|: unchanged: same data as published by the run of/);
    expect(await broadcasts()).to.have.length(1);
  });

  it('--status --json lists each topic\'s next times at 09:00 in APP_TIMEZONE and the latest runs with their outcome', async () => {
    const result = await daily(['--status', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    const status = JSON.parse(result.stdout) as { timezone: string; topics: { topic: string; schedule: string; next: string[]; lastSuccessAt?: string }[]; runs: { state: string; broadcastId?: string }[] };
    expect(status.timezone).to.equal('Europe/Berlin');
    expect(status.topics).to.have.length(1);
    expect(status.topics[0]).to.deep.include({ topic: 'fallzahlen', schedule: '0 9 * * *' });
    const wall = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' });
    expect(status.topics[0]?.next.map((n) => wall.format(new Date(n)))).to.deep.equal(['09:00', '09:00', '09:00']);
    expect(status.topics[0]?.lastSuccessAt).to.be.a('string');
    // The first test's second run is a run of its own when it fell into the next minute
    // (`unchanged`, listed first as the latest); the published one is listed either way.
    expect([['published'], ['unchanged', 'published']], 'states of the runs listed').to.deep.include(status.runs.map((r) => r.state));
    expect(status.runs.find((r) => r.state === 'published')?.broadcastId).to.equal((await broadcasts())[0]?._id);
  });

  it('above PUBLISH_BUDGET nothing is sent: exit code 3, and the run records why', async () => {
    const result = await daily(['--topic', 'fallzahlen', '--now'], { PUBLISH_BUDGET: '0.01' }, otherDb);
    expect(result.code, result.stderr).to.equal(3);
    expect(result.stdout).to.match(/: skipped: estimated cost 0\.\d\d EUR is above PUBLISH_BUDGET 0\.01: not sent$/m);
    expect(await broadcasts(otherDb)).to.have.length(0);
    const [run] = await client.db(otherDb).collection(DAILY_RUNS).find().toArray();
    expect(run).to.deep.include({ state: 'skipped-budget' });
  });

  it('a mistake in DAILY_RUNS_FILE stops it with exit code 78 and one line naming the file and the field', async () => {
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, JSON.stringify({ topics: { fallzahlen: { schedule: 'every day', source: { url: source.url }, fields: {} } } }));
    const result = await daily(['--status', '--json'], { DAILY_RUNS_FILE: broken });
    expect(result.code).to.equal(78);
    expect(result.stderr.trim().split('\n')).to.have.length(1);
    const { error } = JSON.parse(result.stdout) as { error: { message: string; exitCode: number } };
    expect(error.exitCode).to.equal(78);
    expect(error.message).to.equal(`invalid ${broken}: topics.fallzahlen.schedule: "every day" is not a node-cron expression: expected 5 or 6 fields but got 2`);
  });
});
