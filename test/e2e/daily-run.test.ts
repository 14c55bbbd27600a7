import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { runSlot } from '../../src/app/daily-run.js';
import type { DailyRuns } from '../../src/app/daily-runs.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { ManualClock } from '../../src/domain/clock.js';
import { isFinal, runKey } from '../../src/domain/daily-run.js';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { DAILY_RUNS, type DailyRun } from '../../src/store/daily-run-repository.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { casesAnswer, dailyRunsFile, startDataSource, type DataSource } from '../support/data-source.js';
import { seedSubscribers } from '../support/seed.js';
import { captureLogger, EXTERNAL_API_CREDENTIALS, testConfig } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';
import { WORKER_JOBS } from '../../jobs/index.js';

const MINUTE = 60_000;
/**
 * 09:00 in Berlin on 20 November 2025: the slot of `0 9 * * *`. In the past: Agenda runs the
 * fan-out's jobs at the manual clock's time, taken as real time.
 */
const SLOT = new Date('2025-11-20T08:00:00Z');
const DAY = 24 * 60 * MINUTE;
const dayAfter = (days: number) => new Date(SLOT.getTime() + days * DAY);

interface RunDoc extends Omit<DailyRun, 'id'> {
  _id: string;
}

/**
 * Workers in this process on one real database, each on a manual clock, with a local HTTP data
 * source and a WhatsApp sandbox shared by all of them (so messages from every worker are in one
 * place). Time is set on the clocks; a tick is called where the node-cron tick would come.
 */
function dailyFixture(fileUrl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'daily-run-'));
  const dbName = testDatabaseName(new URL(fileUrl).pathname);
  const clock = new ManualClock(new Date(SLOT.getTime() - MINUTE));
  const workers: Worker[] = [];
  const logs = captureLogger('debug');
  const fixture = {
    clock,
    source: undefined as unknown as DataSource,
    sandbox: undefined as unknown as Sandbox,
    client: undefined as unknown as MongoClient,
    db: undefined as unknown as Db,
    phones: [] as string[],
    file: join(dir, 'daily-runs.json'),
    /** Starts a worker (on `clocks` own clock, or the shared one) whose status webhooks the sandbox sends to. */
    async startWorker(workerClock: ManualClock = clock, env: Record<string, string> = {}): Promise<Worker> {
      const config = testConfig({
        ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: dbName, WHATSAPP_API_BASE: fixture.sandbox.url,
        SEND_RATE_MPS: '1000', DAILY_RUNS_FILE: fixture.file, TEST_SOURCE_TOKEN: 'source-token-1234', ...env,
      });
      const worker = await startWorker(config, logs.logger, workerClock, WORKER_JOBS);
      workers.push(worker);
      fixture.sandbox.setWebhookUrl(`${worker.url}/webhooks/whatsapp`);
      return worker;
    },
    async stopWorker(worker: Worker): Promise<void> {
      await worker.stop();
      workers.splice(workers.indexOf(worker), 1);
    },
    tick: (worker: Worker) => (worker.deps.daily as DailyRuns).tick(),
    run: (slot: Date) => fixture.db.collection<RunDoc>(DAILY_RUNS).findOne({ _id: runKey('fallzahlen', slot) }),
    runs: () => fixture.db.collection<RunDoc>(DAILY_RUNS).find().toArray(),
    broadcasts: () => fixture.db.collection<{ _id: string; key: string; status: string }>(BROADCASTS).find().toArray(),
    /** Waits until the slot's run has finished, and returns it. */
    finished: (slot: Date) => waitFor(`the run of ${slot.toISOString()} to finish`, async () => {
      const run = await fixture.run(slot);
      return run && isFinal(run.state) ? run : undefined;
    }, 20_000),
    /** Waits until the broadcast has been sent to everyone; returns how many messages each subscriber got. */
    async delivered(broadcastId: string): Promise<number[]> {
      await waitFor(`broadcast ${broadcastId} to be done`, async () => (await fixture.db.collection<{ _id: string; status: string }>(BROADCASTS).findOne({ _id: broadcastId }))?.status === 'done', 30_000);
      return fixture.phones.map((phone) => fixture.sandbox.messages({ to: phone.slice(1) }).length);
    },
  };
  before(async () => {
    fixture.client = new MongoClient(testServer().uri);
    await fixture.client.connect();
    fixture.db = fixture.client.db(dbName);
    fixture.phones = await seedSubscribers(fixture.db, { count: 3, from: 60000000, now: clock.now() });
    fixture.source = await startDataSource();
    fixture.source.answer(casesAnswer('2025-11-20', 1000, 10));
    writeFileSync(fixture.file, dailyRunsFile(fixture.source.url));
    fixture.sandbox = await startSandbox({ clock, token: EXTERNAL_API_CREDENTIALS.WHATSAPP_TOKEN, phoneNumberId: '100000000000001', appSecret: EXTERNAL_API_CREDENTIALS.WHATSAPP_APP_SECRET, mps: 0, pairRate: false });
  });
  afterEach(function () {
    // What the workers logged, for a test that failed.
    if (this.currentTest?.state === 'failed') console.log(logs.lines.filter((l) => !l.includes('"level":"debug"') || l.includes('daily')).slice(-30).join('\n'));
  });
  after(async function () {
    this.timeout(60_000);
    for (const worker of workers.splice(0)) await worker.stop();
    await fixture.sandbox?.stop();
    await fixture.source?.stop();
    await fixture.client?.close();
    await dropTestDatabase(dbName);
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

describe('daily run: a worker fetches on schedule and publishes only new data', function () {
  this.timeout(60_000);
  const f = dailyFixture(import.meta.url);
  let worker: Worker;

  before(async () => {
    worker = await f.startWorker();
  });

  it('a changed dataset is published once, with the source credential from the environment', async () => {
    expect(await f.tick(worker), 'nothing is due a minute before the slot').to.deep.equal([]);
    f.clock.set(SLOT);
    expect(await f.tick(worker)).to.deep.equal([runKey('fallzahlen', SLOT)]);
    const run = await f.finished(SLOT);
    expect(run).to.deep.include({ state: 'published', trigger: 'schedule', attempts: 1 });
    expect(f.source.lastHeaders?.authorization).to.equal('Bearer source-token-1234');
    expect(await f.delivered(run.broadcastId as string), 'one message per subscriber').to.deep.equal([1, 1, 1]);
    const [broadcast] = await f.broadcasts();
    expect(broadcast?.key).to.equal('daily:fallzahlen:2025-11-20T08:00:00.000Z');

    f.clock.advance(30_000);
    expect(await f.tick(worker), 'the slot is not run again').to.deep.equal([]);
    expect(f.source.requests).to.equal(1);
    expect(await f.broadcasts()).to.have.length(1);
  });

  it('the same data the next day publishes nothing and records unchanged', async () => {
    f.clock.set(dayAfter(1));
    await f.tick(worker);
    const run = await f.finished(dayAfter(1));
    expect(run.state).to.equal('unchanged');
    expect(run.reason).to.equal('same data as published by the run of 2025-11-20 09:00:00 (broadcast ' + (await f.broadcasts())[0]?._id + ')');
    expect(f.source.requests).to.equal(2);
    expect(await f.broadcasts()).to.have.length(1);
  });

  it('an answer that does not map publishes nothing, is recorded as failed with the reason, and /healthz and /metrics report it', async () => {
    f.source.answer({ generatedAt: '2025-11-22T05:00:00Z', data: { date: '2025-11-22', cases: 'n/a', newCases: 3 } });
    f.clock.set(dayAfter(2));
    await f.tick(worker);
    const run = await f.finished(dayAfter(2));
    expect(run).to.deep.include({ state: 'failed', attempts: 1, reason: 'the answer does not map: cases: data.cases is "n/a" (text), expected a number' });
    expect(await f.broadcasts()).to.have.length(1);

    const health = await (await fetch(`${worker.url}/healthz`)).json() as { status: string; dailyRuns: { state: string; failing: { topic: string; reason: string }[] } };
    expect(health.status).to.equal('degraded');
    expect(health.dailyRuns.state).to.equal('failing');
    expect(health.dailyRuns.failing).to.have.length(1);
    expect(health.dailyRuns.failing[0]).to.deep.include({ topic: 'fallzahlen', reason: run.reason });
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    for (const outcome of ['published', 'unchanged', 'failed']) expect(metrics).to.match(new RegExp(`^optin_daily_runs\\{topic="fallzahlen",outcome="${outcome}"\\} 1$`, 'm'));
    expect(metrics, 'the unchanged run of the day before finished last among those that worked').to.match(new RegExp(`^optin_daily_run_last_success_timestamp_seconds\\{topic="fallzahlen"\\} ${dayAfter(1).getTime() / 1000}$`, 'm'));
  });

  it('a source that answers 503 is fetched again with backoff, and the new data published once', async () => {
    f.source.answer(casesAnswer('2025-11-23', 1030, 30));
    f.source.fail(2, 503);
    f.clock.set(dayAfter(3));
    await f.tick(worker);
    const run = await f.finished(dayAfter(3));
    expect(run).to.deep.include({ state: 'published', attempts: 3 });
    expect(await f.delivered(run.broadcastId as string)).to.deep.equal([2, 2, 2]);
    const health = await (await fetch(`${worker.url}/healthz`)).json() as { status: string; dailyRuns: { state: string } };
    expect(health).to.deep.include({ status: 'ok' });
    expect(health.dailyRuns.state).to.equal('ok');
  });

  it('a source down until the grace period ends fails the run with the last error, and nothing is published', async () => {
    f.source.answer(casesAnswer('2025-11-24', 1040, 10));
    f.source.fail(Infinity, 502);
    f.clock.set(dayAfter(4));
    await f.tick(worker);
    await waitFor('the first failed fetch', async () => (await f.run(dayAfter(4)))?.state === 'retrying');
    f.clock.set(new Date(dayAfter(4).getTime() + 59 * MINUTE + 59_000)); // the next retry would come after 10:00
    const run = await f.finished(dayAfter(4));
    expect(run.state).to.equal('failed');
    expect(run.reason).to.match(/^http:\/\/127\.0\.0\.1:\d+\/cases: HTTP 502 \(gave up after \d+ attempts: the grace period ends 2025-11-24 10:00:00\)$/);
    expect(await f.broadcasts()).to.have.length(2);
    f.source.fail(0);
  });

  it('above PUBLISH_BUDGET a run sends nothing and records why, unless the topic\'s budget allows it', async () => {
    const { deps } = worker.deps.daily as DailyRuns;
    const config = { ...deps.services.config, fanOut: { ...deps.services.config.fanOut, budget: 0.01 } };
    const topic = deps.settings.topics.get('fallzahlen');
    const withBudget = (budget: number | undefined) => ({
      ...deps,
      services: { ...deps.services, config },
      settings: { ...deps.settings, topics: new Map([['fallzahlen', { ...topic!, ...(budget === undefined ? {} : { budget }) }]]) },
    });
    f.source.answer(casesAnswer('2025-11-25', 1050, 10));
    const [first, second] = [new Date(dayAfter(5).getTime() + MINUTE), new Date(dayAfter(5).getTime() + 2 * MINUTE)];
    f.clock.set(second);
    const skipped = await runSlot(withBudget(undefined), { topic: 'fallzahlen', slot: first, trigger: 'manual', owner: 'test' });
    expect(skipped.run).to.deep.include({ state: 'skipped-budget', currency: 'EUR' });
    expect(skipped.run.reason).to.match(/^estimated cost 0\.\d\d EUR is above PUBLISH_BUDGET 0\.01: not sent$/);
    expect(await f.broadcasts()).to.have.length(2);
    const allowed = await runSlot(withBudget(5), { topic: 'fallzahlen', slot: second, trigger: 'manual', owner: 'test' });
    expect(allowed.run.state).to.equal('published');
    expect(await f.delivered(allowed.run.broadcastId as string)).to.deep.equal([3, 3, 3]);
  });
});

describe('daily run: several workers, one run per slot', function () {
  this.timeout(60_000);
  const f = dailyFixture(import.meta.url);
  let a: Worker;
  let b: Worker;

  it('two workers starting at the slot make one run: one fetch, one broadcast, one message each', async () => {
    f.clock.set(SLOT);
    [a, b] = await Promise.all([f.startWorker(f.clock), f.startWorker(new ManualClock(SLOT))]);
    await Promise.all([f.tick(a), f.tick(b), f.tick(a), f.tick(b)]);
    const run = await f.finished(SLOT);
    expect(run.state).to.equal('published');
    expect(await f.delivered(run.broadcastId as string)).to.deep.equal([1, 1, 1]);
    expect(await f.runs()).to.have.length(1);
    expect(await f.broadcasts()).to.have.length(1);
    expect(f.source.requests).to.equal(1);
  });

  it('the claim is unique per topic and slot: of two workers running the same slot at once, one runs it', async () => {
    f.source.answer(casesAnswer('2025-11-20', 1005, 15)); // a correction later that morning
    const slot = new Date(SLOT.getTime() + 90 * MINUTE);
    const attempts = await Promise.all([a, b].map((w, i) => w.deps.daily.run({ topic: 'fallzahlen', slot, trigger: 'manual', owner: `test-${i}` })));
    expect(attempts.map((x) => x.kind).sort()).to.deep.equal(['finished', 'not-claimed']);
    expect((await f.run(slot))?.state).to.equal('published');
    expect(f.source.requests).to.equal(2);
    expect(await f.broadcasts()).to.have.length(2);
  });
});

describe('daily run: a worker down at the slot catches up once, within the grace period', function () {
  this.timeout(60_000);
  const f = dailyFixture(import.meta.url);

  it('a worker started 20 minutes after the slot runs it as a catch-up; a worker started 20 minutes later again does not', async () => {
    const first = await f.startWorker(new ManualClock(new Date(SLOT.getTime() + 20 * MINUTE)));
    const run = await f.finished(SLOT);
    expect(run).to.deep.include({ state: 'published', trigger: 'catch-up' });
    expect(await f.delivered(run.broadcastId as string)).to.deep.equal([1, 1, 1]);
    await f.stopWorker(first);

    const second = await f.startWorker(new ManualClock(new Date(SLOT.getTime() + 40 * MINUTE)));
    expect(await f.tick(second)).to.deep.equal([]);
    expect(f.source.requests).to.equal(1);
    expect(await f.runs()).to.have.length(1);
    await f.stopWorker(second);
  });

  it('a worker started after the grace period leaves the missed slot alone', async () => {
    f.source.answer(casesAnswer('2025-11-21', 1010, 10));
    const late = await f.startWorker(new ManualClock(new Date(dayAfter(1).getTime() + 61 * MINUTE)));
    expect(await f.tick(late)).to.deep.equal([]);
    expect(await f.run(dayAfter(1))).to.equal(null);
    expect(f.source.requests).to.equal(1);
  });
});

describe('daily run: the demo source of the built-in sandbox (the shipped config/daily-runs.json)', function () {
  this.timeout(60_000);
  const h = useWorker(import.meta.url, { DAILY_RUNS_FILE: 'config/daily-runs.json', SEND_RATE_MPS: '1000' }, new Date(SLOT.getTime() - MINUTE));
  let phones: string[];
  const tick = () => (h.worker.deps.daily as DailyRuns).tick();
  const run = (slot: Date) => waitFor(`the run of ${slot.toISOString()}`, async () => {
    const doc = await h.worker.deps.db.collection<RunDoc>(DAILY_RUNS).findOne({ _id: runKey('fallzahlen', slot) });
    return doc && isFinal(doc.state) ? doc : undefined;
  }, 20_000);
  const received = () => phones.map((p) => h.sandbox.messages({ to: p.slice(1) }).length);

  before(async () => {
    phones = await seedSubscribers(h.worker.deps.db, { count: 2, from: 61000000, now: h.clock.now() });
  });

  it('publishes the demo numbers at 09:00, nothing while they stay the same, and the next ones once told to change', async () => {
    h.clock.set(SLOT);
    await tick();
    expect((await run(SLOT)).state).to.equal('published');
    await waitFor('both subscribers to get the update', () => received().every((n) => n === 1), 30_000);
    const demo = await (await fetch(`${h.sandbox.url}/_sandbox/data/fallzahlen`)).json() as { data: { date: string; cases: number } };
    expect(demo.data).to.deep.include({ date: '2025-11-20', cases: 120000 });

    h.clock.set(dayAfter(1));
    await tick();
    expect((await run(dayAfter(1))).state).to.equal('unchanged');

    const next = await fetch(`${h.sandbox.url}/_sandbox/data/fallzahlen/next`, { method: 'POST' });
    expect(((await next.json()) as { data: { date: string } }).data.date).to.equal('2025-11-21');
    h.clock.set(dayAfter(2));
    await tick();
    expect((await run(dayAfter(2))).state).to.equal('published');
    await waitFor('both subscribers to get the second update', () => received().every((n) => n === 2), 30_000);
  });
});
