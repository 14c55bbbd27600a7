import { expect } from 'chai';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { systemClock } from '../../src/app/system-clock.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { seedSubscribers } from '../support/seed.js';
import { captureLogger, EXTERNAL_API_CREDENTIALS, testConfig } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_JOBS } from '../../jobs/index.js';

const MESSAGES = 120;
const waIdFor = (i: number): string => `4915113${String(i).padStart(6, '0')}`;

describe('shutdown with a backlog', function () {
  this.timeout(120_000);
  const dbName = testDatabaseName(import.meta.url);
  // Its own database: the first test's workers would otherwise take part in the fan-out.
  const fanOutDbName = `${dbName}_fan_out`;
  const started: Worker[] = [];
  const sandboxes: Sandbox[] = [];

  after(async () => {
    for (const worker of started) await worker.stop();
    for (const api of sandboxes) await api.stop();
    await dropTestDatabase(dbName);
    await dropTestDatabase(fanOutDbName);
  });

  /** A sandbox in this process whose every answer takes 100 ms: a backlog takes far longer than a shutdown may. */
  async function slowSandbox(db: string): Promise<{ api: Sandbox; config: ReturnType<typeof testConfig> }> {
    const base = testConfig({ ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: db });
    const api = await startSandbox({
      clock: systemClock, token: base.whatsapp.token, phoneNumberId: base.whatsapp.phoneNumberId, appSecret: base.whatsapp.appSecret,
      mps: 0, pairRate: false, latencyMs: 100,
    });
    sandboxes.push(api);
    // 40/s: chunks of 10 contacts, so a stop has a chunk boundary to stop at every quarter second.
    return { api, config: testConfig({ ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: db, WHATSAPP_API_BASE: api.url, SEND_RATE_MPS: '40' }) };
  }

  it('stops without working off the backlog, and the next worker answers each of the rest exactly once', async () => {
    const { api, config } = await slowSandbox(dbName);
    const { logger } = captureLogger('warn');
    const first = await startWorker(config, logger, systemClock, WORKER_JOBS);
    started.push(first);
    api.setWebhookUrl(`${first.url}/webhooks/whatsapp`);
    const inbound = first.deps.db.collection(INBOUND);

    for (let i = 0; i < MESSAGES; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => api.inbound({ from: waIdFor(i + j), text: 'Hallo' })));
    }
    await waitFor('every message to be stored', async () => (await inbound.countDocuments()) === MESSAGES, 30_000);
    await waitFor('the first worker to be answering', async () => (await inbound.countDocuments({ state: 'done' })) > 0);

    const stopAsked = Date.now();
    await first.stop();
    const stopMs = Date.now() - stopAsked;
    const answeredByFirst = api.messages().length;
    expect(stopMs, 'a shutdown waits for the message in hand only').to.be.below(5000);
    expect(answeredByFirst, 'messages answered before the stop').to.be.below(MESSAGES);

    const second = await startWorker(config, logger, systemClock, WORKER_JOBS);
    started.push(second);
    api.setWebhookUrl(`${second.url}/webhooks/whatsapp`);
    await waitFor('the second worker to answer the rest', async () => (await second.deps.db.collection(INBOUND).countDocuments({ state: 'done' })) === MESSAGES, 60_000);
    const answered = api.messages();
    expect(answered).to.have.length(MESSAGES);
    expect(new Set(answered.map((m) => m.to)).size, 'one answer per contact').to.equal(MESSAGES);
  });

  it('a fan-out stopped part-way: the shutdown waits for the chunk in hand only, and the next worker sends the rest, each subscriber once', async () => {
    const subscribers = 300;
    const { api, config } = await slowSandbox(fanOutDbName);
    const { logger } = captureLogger('warn');
    const first = await startWorker(config, logger, systemClock, WORKER_JOBS);
    started.push(first);
    api.setWebhookUrl(`${first.url}/webhooks/whatsapp`);
    await seedSubscribers(first.deps.db, { count: subscribers, from: 20_000_000 });
    const prepared = prepareBroadcast(first.deps, { topic: 'fallzahlen', data: { date: '2026-11-20T09:00:00Z', cases: 1, new_cases: 1 }, key: 'shutdown-fan-out' });
    const { broadcast } = await createBroadcast(first.deps, prepared, await planBroadcast(first.deps, prepared, systemClock.now()), systemClock.now());
    await first.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', systemClock.now());
    await waitFor('the first worker to be sending', () => api.messages().length >= 20, 60_000);

    const stopAsked = Date.now();
    await first.stop();
    const stopMs = Date.now() - stopAsked;
    const sentByFirst = api.messages().length;
    expect(stopMs, 'a shutdown waits for the chunk in hand only').to.be.below(5000);
    expect(sentByFirst, 'messages sent before the stop').to.be.below(subscribers);

    const second = await startWorker(config, logger, systemClock, WORKER_JOBS);
    started.push(second);
    api.setWebhookUrl(`${second.url}/webhooks/whatsapp`);
    const report = await waitFor('the second worker to finish the broadcast', async () => {
      const r = await broadcastReport(second.deps, broadcast.id);
      return r.status === 'done' ? r : undefined;
    }, 90_000, 250);
    const sent = api.messages();
    expect(sent, 'one message per subscriber in all').to.have.length(subscribers);
    expect(new Set(sent.map((m) => m.to)).size, 'nobody twice').to.equal(subscribers);
    const delivered = (report.deliveries.sent ?? 0) + (report.deliveries.delivered ?? 0) + (report.deliveries.read ?? 0);
    expect(delivered, JSON.stringify(report.deliveries)).to.equal(subscribers);
  });
});
