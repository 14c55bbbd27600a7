import { expect } from 'chai';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { ManualClock } from '../../src/domain/clock.js';
import { WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { entry, envelope, messagesChange, status } from '../support/meta-webhooks.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { FIXTURE_TIME } from '../support/worker-harness.js';
import { WORKER_JOBS } from '../../jobs/index.js';

/**
 * Status webhooks arrive many at a time during a fan-out, and the POSTs received together share
 * one write (of their statuses, or of their bodies when they hold more than statuses). Each is still answered 200 only once its body is stored, a write
 * that fails is answered 503 for every POST in it (Meta sends them again), and every event is
 * stored once however often it comes.
 */
describe('webhook: POSTs arriving together, over HTTP', function () {
  this.timeout(120_000);
  const dbName = testDatabaseName(import.meta.url);
  let proxy: TcpProxy | undefined;
  let worker: Worker | undefined;
  const live = () => {
    if (!worker) throw new Error('worker not started');
    return worker;
  };

  before(async function () {
    this.timeout(60_000);
    // The database can be cut off from the worker while the test still reaches it directly.
    const target = new URL(testServer().uri);
    proxy = new TcpProxy(target.hostname, Number(target.port || 27017));
    await proxy.start();
    const config = testConfig({ MONGODB_URI: `mongodb://127.0.0.1:${proxy.port}/`, MONGODB_DB: dbName, SANDBOX_MPS: '0', HEALTH_DB_TIMEOUT_MS: '1000' });
    worker = await startWorker(config, captureLogger('error').logger, new ManualClock(new Date(FIXTURE_TIME.getTime() + 60_000)), WORKER_JOBS);
  });

  after(async function () {
    this.timeout(60_000);
    proxy?.restore();
    await worker?.stop();
    await proxy?.stop();
    await dropTestDatabase(dbName);
  });

  const statusBody = (wamid: string) => JSON.stringify(envelope(entry(messagesChange({ statuses: [status(wamid, 'delivered', '4915100008001')] }))));
  /** POSTs every body at once, as the platform does during a fan-out. */
  const postAll = (bodies: readonly string[]) => Promise.all(bodies.map(async (raw) => {
    const response = await fetch(`${live().url}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, live().deps.config.whatsapp.appSecret) },
      body: raw,
    });
    return { status: response.status, body: (await response.json()) as { received?: { statuses: number }; error?: string } };
  }));
  const stored = async (wamids: readonly string[]) => {
    await live().deps.webhookBatches.idle();
    return live().deps.db.collection(STATUS_EVENTS).countDocuments({ 'event.id': { $in: wamids } });
  };

  it('each POST of a burst is answered 200 for its own batch, and every status is stored once, also when sent again', async () => {
    const wamids = Array.from({ length: 24 }, (_, i) => `wamid.TOGETHER.${i}`);
    const bodies = wamids.map(statusBody);
    const answers = await postAll(bodies);
    expect(answers.map((a) => a.status)).to.deep.equal(bodies.map(() => 200));
    expect(answers.map((a) => a.body.received?.statuses)).to.deep.equal(bodies.map(() => 1));
    expect(await stored(wamids)).to.equal(24);

    // Meta's retries of the same bodies: answered, stored nothing twice.
    expect((await postAll(bodies)).map((a) => a.status)).to.deep.equal(bodies.map(() => 200));
    expect(await stored(wamids)).to.equal(24);
    expect(await live().deps.db.collection(WEBHOOK_BATCHES).countDocuments()).to.equal(0);
  });

  it('a POST of statuses only is answered once its statuses themselves are stored, without a copy of its body', async () => {
    const wamids = Array.from({ length: 8 }, (_, i) => `wamid.DIRECT.${i}`);
    const answers = await postAll(wamids.map(statusBody));
    expect(answers.map((a) => a.status)).to.deep.equal(wamids.map(() => 200));
    // Read at once, without waiting for the background storing: the answer came after the write.
    const db = live().deps.db;
    expect(await db.collection(STATUS_EVENTS).countDocuments({ 'event.id': { $in: wamids } })).to.equal(8);
    expect(await db.collection(WEBHOOK_BATCHES).countDocuments()).to.equal(0);
  });

  it('when the write fails, every POST in it is answered 503 and nothing is stored; sent again, each is stored once', async () => {
    const wamids = Array.from({ length: 6 }, (_, i) => `wamid.FAILED.${i}`);
    const bodies = wamids.map(statusBody);
    proxy?.cut();
    // POST once the worker has noticed: a command written to a connection in the very moment it
    // is cut was seen to wait for an answer for ever (the driver sets no socket timeout).
    await waitFor('the worker to report the database down', async () => (await fetch(`${live().url}/healthz`)).status === 503, 30_000);
    const refused = await postAll(bodies);
    proxy?.restore();
    expect(refused.map((a) => a.status)).to.deep.equal(bodies.map(() => 503));
    expect(refused[0]?.body.error).to.equal('could not store the events, retry later');
    expect(await stored(wamids)).to.equal(0);

    const retried = await postAll(bodies);
    expect(retried.map((a) => a.status)).to.deep.equal(bodies.map(() => 200));
    expect(await stored(wamids)).to.equal(6);
  });
});
