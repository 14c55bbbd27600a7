import { hostname } from 'node:os';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { JOBS_COLLECTION } from '../../src/app/scheduler.js';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { DeliveryRepository } from '../../src/store/delivery-repository.js';
import { BroadcastFleet } from '../support/broadcast-fleet.js';
import { seedSubscribers } from '../support/seed.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

interface BatchJob {
  data: { batchId: string };
  lockedAt?: Date | null;
  lastModifiedBy?: string | null;
  lastFinishedAt?: Date | null;
}

/** The name a worker's scheduler locks and saves jobs under (`createScheduler`: host and pid). */
const schedulerName = (pid: number) => `${hostname()}-${pid}`;
const isLocked = (job: BatchJob) => job.lockedAt instanceof Date;

/**
 * Worker processes share a broadcast batch by batch: a worker locks only as many batch jobs as
 * it runs at once, so the second worker is not left idle while the first holds every batch.
 */
describe('fan-out: two worker processes on one database share the batches of a broadcast', function () {
  this.timeout(6 * 60_000);
  let client: MongoClient;
  const databases: string[] = [];
  const fleets: BroadcastFleet[] = [];

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
  });
  afterEach(async () => {
    for (const fleet of fleets.splice(0)) await fleet.close();
  });
  after(async () => {
    // Every worker is stopped by now (afterEach): the databases can go.
    for (const name of databases) await client.db(name).dropDatabase();
    await client.close();
  });

  /** Two worker slots on a database of its own; `started` of them running and listening. */
  async function fleetWith(subscribers: number, env: Record<string, string>, started = 2): Promise<{ db: Db; fleet: BroadcastFleet }> {
    const dbName = testDatabaseName(new URL(import.meta.url).pathname);
    databases.push(dbName);
    const db = client.db(dbName);
    await seedSubscribers(db, { count: subscribers, from: 70000000 });
    // Status webhooks do not touch who runs a batch; without them the machine has less to do.
    const fleet = await BroadcastFleet.start({ uri: testServer().uri, db: dbName, workers: 2, webhooks: false, env, startWorkers: false });
    fleets.push(fleet);
    for (let i = 0; i < started; i += 1) fleet.spawn(i);
    await fleet.listening();
    return { db, fleet };
  }

  const batchJobs = (db: Db) => db.collection<BatchJob>(JOBS_COLLECTION).find({ name: 'fan-out-batch' }).toArray();

  /**
   * The batch jobs once each has finished. Agenda records a job's end after its function
   * returned, which may be after the last batch marked the broadcast done. Past the limit, the
   * jobs as they are, for the assertions to name the unfinished ones.
   */
  const finishedJobs = (db: Db) => waitFor('every batch job to have finished', async () => {
    const all = await batchJobs(db);
    return all.every((j) => j.lastFinishedAt instanceof Date && !isLocked(j)) ? all : undefined;
  }, 60_000, 100).catch(async () => batchJobs(db));

  async function waitDone(db: Db, id: string, fleet: BroadcastFleet): Promise<void> {
    try {
      await waitFor(`broadcast ${id} to be done`, async () => (await db.collection(BROADCASTS).findOne({ _id: id as never }))?.status === 'done', 240_000, 250);
    } catch (err) {
      const totals = await new DeliveryRepository(db).totals(id);
      const warnings = fleet.slots.map((w) => w.lines.filter((l) => /warn|error/.test(l)).slice(-3).join(' | ')).join(' || ');
      throw new Error(`${(err as Error).message}; deliveries: ${JSON.stringify(totals.byState)}; worker log: ${warnings}`, { cause: err });
    }
  }

  /** Nobody got the broadcast twice, and every subscriber has a delivery record. */
  async function expectNobodyTwice(db: Db, fleet: BroadcastFleet, id: string, subscribers: number): Promise<number> {
    const accepted = await fleet.accepted(id);
    const perContact = new Map<string, number>();
    for (const m of accepted) perContact.set(m.to, (perContact.get(m.to) ?? 0) + 1);
    expect([...perContact].filter(([, n]) => n > 1), 'contacts that got the broadcast twice').to.deep.equal([]);
    const totals = await new DeliveryRepository(db).totals(id);
    expect(Object.values(totals.byState).reduce((a, b) => a + b, 0), 'delivery records').to.equal(subscribers);
    return perContact.size;
  }

  it('a second worker started while the first runs a broadcast takes batch jobs of it; each batch runs once, every subscriber gets it once', async () => {
    // 61 batches, the default poll (1 s) and lock lifetime, as `npm start` has them. A worker
    // locks at most 2 batches per poll, so the first alone would need half a minute.
    const { db, fleet } = await fleetWith(600, { FANOUT_BATCH_SIZE: '10', SEND_RATE_MPS: '200' }, 1);
    const id = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: 600, new_cases: 2 });
    const first = schedulerName(fleet.workerPids()[0] as number);
    // Every batch job is saved once the broadcast runs; the first worker has taken what it takes.
    await waitFor('the broadcast to run and the first worker to run a batch', async () => (await db.collection(BROADCASTS).findOne({ _id: id as never }))?.status === 'running'
      && (await batchJobs(db)).some((j) => isLocked(j) && j.lastModifiedBy === first), 120_000, 50);
    const second = fleet.spawn(1);
    await second.url();
    await waitDone(db, id, fleet);
    const jobs = await finishedJobs(db);
    const broadcast = await db.collection<{ batches: number }>(BROADCASTS).findOne({ _id: id as never });
    // Cut every 10 keys, and an open-ended last range for subscribers joining meanwhile.
    expect(broadcast?.batches).to.equal(61);
    expect(jobs, 'batch jobs').to.have.length(61);
    expect(jobs.filter((j) => !(j.lastFinishedAt instanceof Date) || isLocked(j)), 'batch jobs not finished').to.deep.equal([]);
    const ranBy = new Map<string, number>();
    for (const job of jobs) ranBy.set(String(job.lastModifiedBy), (ranBy.get(String(job.lastModifiedBy)) ?? 0) + 1);
    expect([...ranBy.keys()].sort(), `who ran the batch jobs (${JSON.stringify([...ranBy])})`).to.deep.equal([first, schedulerName(second.child.pid as number)].sort());
    expect(await expectNobodyTwice(db, fleet, id, 600), 'subscribers messaged').to.equal(600);
  });

  it('a worker killed while it runs batches: the other takes them over once their lock lifetime is past, and nobody gets it twice', async () => {
    // 6 batches of 100 at 50 messages a second for both workers together: each batch runs for seconds.
    const { db, fleet } = await fleetWith(600, { FANOUT_BATCH_SIZE: '100', SEND_RATE_MPS: '50', JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '3000', DELIVERY_UNKNOWN_AFTER_MS: '8000' });
    const [survivorPid, victimPid] = fleet.workerPids() as [number, number];
    const id = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: 600, new_cases: 2 });
    const victim = schedulerName(victimPid);
    await waitFor('the second worker to run a batch', async () => (await batchJobs(db)).some((j) => isLocked(j) && j.lastModifiedBy === victim), 120_000, 50);
    await fleet.kill(1);
    // The batches it held when it died: still locked by it, their lock no longer renewed.
    const held = (await batchJobs(db)).filter((j) => isLocked(j) && j.lastModifiedBy === victim).map((j) => j.data.batchId);
    expect(held, 'batches the killed worker held').to.not.be.empty;
    await waitDone(db, id, fleet);

    const jobs = await finishedJobs(db);
    for (const batchId of held) {
      const job = jobs.find((j) => j.data.batchId === batchId);
      expect(job?.lastModifiedBy, `batch ${batchId} was finished by`).to.equal(schedulerName(survivorPid));
      expect(job?.lastFinishedAt, `batch ${batchId} finished`).to.be.instanceOf(Date);
    }
    // A request claimed when the worker died may never have left: at most the requests in flight of its two batches (8 each).
    expect(await expectNobodyTwice(db, fleet, id, 600), 'subscribers messaged').to.be.at.least(600 - 16);
  });
});
