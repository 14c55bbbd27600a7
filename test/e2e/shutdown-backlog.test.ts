import { expect } from 'chai';
import { systemClock } from '../../src/app/system-clock.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { captureLogger, EXTERNAL_API_CREDENTIALS, testConfig } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

const MESSAGES = 120;
const waIdFor = (i: number): string => `4915113${String(i).padStart(6, '0')}`;

describe('shutdown with a backlog of inbound messages', function () {
  this.timeout(120_000);
  const dbName = testDatabaseName(import.meta.url);
  const started: Worker[] = [];
  let sandbox: Sandbox | undefined;

  after(async () => {
    for (const worker of started) await worker.stop();
    await sandbox?.stop();
    await dropTestDatabase(dbName);
  });

  it('stops without working off the backlog, and the next worker answers each of the rest exactly once', async () => {
    const base = testConfig({ ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: dbName });
    // Every answer takes 100 ms, so the backlog takes the first worker far longer than a shutdown may.
    const api = await startSandbox({
      clock: systemClock, token: base.whatsapp.token, phoneNumberId: base.whatsapp.phoneNumberId, appSecret: base.whatsapp.appSecret,
      mps: 0, pairRate: false, latencyMs: 100,
    });
    sandbox = api;
    const config = testConfig({ ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: dbName, WHATSAPP_API_BASE: api.url });
    const { logger } = captureLogger('warn');
    const first = await startWorker(config, logger, systemClock);
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

    const second = await startWorker(config, logger, systemClock);
    started.push(second);
    api.setWebhookUrl(`${second.url}/webhooks/whatsapp`);
    await waitFor('the second worker to answer the rest', async () => (await second.deps.db.collection(INBOUND).countDocuments({ state: 'done' })) === MESSAGES, 60_000);
    const answered = api.messages();
    expect(answered).to.have.length(MESSAGES);
    expect(new Set(answered.map((m) => m.to)).size, 'one answer per contact').to.equal(MESSAGES);
  });
});
