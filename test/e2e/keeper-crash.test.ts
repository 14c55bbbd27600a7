import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { JOBS_COLLECTION } from '../../src/app/scheduler.js';
import { NUDGES } from '../../src/store/nudge-repository.js';
import { freePort } from '../../src/store/server/processes.js';
import { spawnSandbox, type SandboxProcess } from '../support/sandbox-process.js';
import { seedSubscribers } from '../support/seed.js';
import { EXTERNAL_API_CREDENTIALS } from '../support/test-config.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

const SUBSCRIBERS = 300;

/**
 * Two worker processes keep the windows of subscribers whose windows all close in a few minutes;
 * the one running the keeper's pass is killed with SIGKILL in the middle of it and started again.
 * Nobody gets two nudges in one window, every window ends with exactly one record, and the only
 * subscribers without a nudge are those whose claim the killed worker held.
 */
describe('window keeper across processes: two workers and a SIGKILL', function () {
  this.timeout(5 * 60_000);
  let client: MongoClient;
  let db: Db;
  let sandbox: SandboxProcess | undefined;
  const workers: WorkerProcess[] = [];
  const dbName = testDatabaseName('keeper-crash');

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(dbName);
  });
  after(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await w.exited;
    }
    await sandbox?.stop();
    await db.dropDatabase();
    await client.close();
  });

  it('never nudges twice in one window', async () => {
    // Windows that close in 5 minutes: every one is due at once, and stays open for the test.
    const phones = await seedSubscribers(db, { count: SUBSCRIBERS, from: 70_000_000, lastInboundAt: new Date(Date.now() - 24 * 3600_000 + 5 * 60_000) });
    const ports = [await freePort(), await freePort()];
    const base = {
      ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: dbName, JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '3000',
      KEEPER_POLICY: 'always', KEEPER_INTERVAL_MS: '1000', SEND_RATE_MPS: '40',
    };
    // The sandbox never saw these contacts write: it accepts each nudge and fails it later by status.
    sandbox = await spawnSandbox(base, ['--webhook', `http://127.0.0.1:${ports[0]}/webhooks/whatsapp`, '--pair-rate', 'off', '--mps', '0', '--outside-window', 'failed-status']);
    const env = { ...base, WHATSAPP_API_BASE: sandbox.url };
    const nudges = async () => (await sandbox!.messages()).filter((m) => m.callbackData?.startsWith('nd:'));

    const first = spawnWorker({ ...env, PORT: String(ports[0]) });
    const second = spawnWorker({ ...env, PORT: String(ports[1]) });
    workers.push(first, second);
    await Promise.all([first.url(), second.url()]);
    await waitFor('a first part of the nudges to go out', async () => (await nudges()).length >= 60, 120_000, 50);
    // Kill the worker whose pass is running (the keeper runs on one worker at a time), or the first.
    // Agenda names a worker `<host>-<pid>` in the job it runs (renewed while it runs).
    const running = (await db.collection<{ name: string; lockedAt?: Date | null; lastModifiedBy?: string }>(JOBS_COLLECTION).findOne({ name: 'keep-windows', lockedAt: { $ne: null } }))?.lastModifiedBy;
    const victim = [first, second].find((w) => running?.endsWith(`-${w.child.pid}`)) ?? first;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const restarted = spawnWorker({ ...env, PORT: String(victim === first ? ports[0] : ports[1]) });
    workers.push(restarted);
    await restarted.url();

    await waitFor('every window to have its record', async () => (await db.collection(NUDGES).countDocuments()) === SUBSCRIBERS, 180_000, 250);
    const sent = await nudges();
    const perContact = new Map<string, number>();
    for (const m of sent) perContact.set(m.to, (perContact.get(m.to) ?? 0) + 1);
    expect([...perContact].filter(([, n]) => n > 1), 'contacts nudged twice').to.deep.equal([]);
    const records = await db.collection<{ contactKey: string; state: string }>(NUDGES).find().toArray();
    expect(new Set(records.map((r) => r.contactKey)).size).to.equal(SUBSCRIBERS);
    const unsent = phones.filter((p) => !perContact.has(p.slice(1)));
    // Only a claim the killed worker held can stay without a request (FANOUT_CONCURRENCY lanes).
    expect(unsent.length, 'contacts left without a nudge').to.be.at.most(8);
    const states = new Map(records.map((r) => [r.contactKey, r.state]));
    for (const phone of unsent) expect(states.get(phone), phone).to.equal('claimed');
  });
});
