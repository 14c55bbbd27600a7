import { expect } from 'chai';
import { WebhookBatchRepository, WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { contact, entry, envelope, messagesChange, textMessage } from '../support/meta-webhooks.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

/**
 * The webhook answers after one write of the batch as received; the events are stored after the
 * answer. A worker that dies in between must lose nothing: another worker (or the next start)
 * takes the batch once its lease runs out.
 */
describe('webhook batches: answered first, stored after, nothing lost', function () {
  this.timeout(120_000);
  const h = useWorker(import.meta.url, { SANDBOX_OUTSIDE_WINDOW: 'failed-status' });
  const db = () => h.worker.deps.db;
  const nowSeconds = () => String(Math.floor(h.clock.now().getTime() / 1000));

  it('a POST is answered with the batch stored as received, and its events are stored after it', async () => {
    const waId = '4915100007001';
    const answer = await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact(waId)], messages: [textMessage(waId, 'wamid.BATCH.1', 'Fallzahlen', nowSeconds())] }))));
    expect(answer.status).to.equal(200);
    expect(await db().collection(INBOUND).countDocuments({ 'event.id': 'wamid.BATCH.1' })).to.equal(1);
    // Once its events are stored the batch is forgotten.
    expect(await db().collection(WEBHOOK_BATCHES).countDocuments()).to.equal(0);
  });

  it('a batch whose worker died after answering is stored and handled by the sweep, once', async () => {
    const waId = '4915100007002';
    const raw = Buffer.from(JSON.stringify(envelope(entry(messagesChange({ contacts: [contact(waId)], messages: [textMessage(waId, 'wamid.BATCH.2', 'Fallzahlen', nowSeconds())] })))));
    const batches = new WebhookBatchRepository(db());
    // As a killed worker leaves it: stored, lease run out, events not stored.
    await batches.add(raw, new Date(h.clock.now().getTime() - 60_000), 1000);
    await batches.add(raw, new Date(h.clock.now().getTime() - 60_000), 1000);

    const [question] = await waitFor('the consent question to the sender of the abandoned batch', () => {
      const sent = h.sandbox.messages({ to: waId });
      return sent.length > 0 ? sent : undefined;
    }, 60_000);
    expect(question?.type).to.equal('interactive');
    await waitFor('the abandoned batches to be forgotten', async () => (await batches.count()) === 0, 60_000);
    await h.worker.deps.inbound.idle();
    expect(await db().collection(INBOUND).countDocuments({ 'event.id': 'wamid.BATCH.2' })).to.equal(1);
    expect(h.sandbox.messages({ to: waId }), 'the same batch twice is answered once').to.have.length(1);
  });

  it('two sweeps at once never take the same batch', async () => {
    const batches = new WebhookBatchRepository(db());
    // Leased beyond the worker's own clock, so only these two sweeps (at a later time) take them.
    const later = new Date(h.clock.now().getTime() + 3_600_000);
    const far = new Date(later.getTime() + 3_600_000);
    for (let i = 0; i < 20; i += 1) await batches.add(Buffer.from(`{"n":${i}}`), later, 1000);
    const takeAll = async () => {
      const taken: string[] = [];
      for (let batch = await batches.takeAbandoned(far, 3_600_000); batch; batch = await batches.takeAbandoned(far, 3_600_000)) taken.push(batch.id);
      return taken;
    };
    const [a, b] = await Promise.all([takeAll(), takeAll()]);
    expect(a.length + b.length).to.equal(20);
    expect(new Set([...a, ...b]).size).to.equal(20);
    await batches.remove([...a, ...b]);
  });
});
