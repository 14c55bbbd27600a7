import { expect } from 'chai';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import type { Services } from '../../src/app/deps.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { metaJson } from '../../src/whatsapp/sandbox/webhook-payloads.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const DATA = { date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 };

/**
 * The worker against a sandbox whose webhooks are as untidy as the platform's can be, all at once:
 * statuses of different messages in one POST, `read` before `delivered`, every POST twice and each
 * held back a random time (so they overtake each other). Whatever the order, each delivery must end
 * in the state of its message's latest status, and no contact may get anything twice.
 */
describe('worker against an untidy sandbox: batched, reordered, duplicated and delayed webhooks', function () {
  this.timeout(90_000);
  const h = useWorker(import.meta.url, {
    SEND_RATE_MPS: '1000', SANDBOX_STATUS_BATCH: '3', SANDBOX_OUT_OF_ORDER: '1', SANDBOX_DUPLICATE_WEBHOOKS: '1', SANDBOX_WEBHOOK_DELAY_MS: '300',
  }, new Date('2026-11-20T12:00:00Z'));
  const services = (): Services => h.worker.deps;
  const phones = Array.from({ length: 16 }, (_, i) => `4915120${String(i).padStart(6, '0')}`);
  const sentTo = (waId: string) => h.sandbox.messages({ to: waId });
  const storedInbound = (id: string) => h.worker.deps.db.collection<{ event: Record<string, unknown> }>(INBOUND).findOne({ 'event.id': id });
  /** Nothing planned, waiting or on its way from the sandbox, and the worker done with what arrived. */
  const quiet = async () => {
    const stats = h.sandbox.webhookStats;
    if (h.sandbox.pendingStatuses > 0 || stats.inFlight > 0 || stats.pending > 0) return false;
    await h.worker.deps.webhookBatches.idle();
    await h.worker.deps.inbound.idle();
    return true;
  };

  it('subscribes each contact once although every inbound webhook arrives twice', async () => {
    for (const waId of phones) {
      await h.sandbox.inbound({ from: waId, text: 'Fallzahlen' });
      await waitFor(`the consent question to ${waId}`, () => sentTo(waId).length === 1);
      await h.sandbox.inbound({ from: waId, button: { id: 'yes:fallzahlen', title: 'Ja' } });
      await waitFor(`${waId} to be subscribed`, async () => (await services().contacts.get(`+${waId}`))?.subscriptions.fallzahlen?.state === 'subscribed');
    }
    await waitFor('the sandbox and the worker to be quiet', quiet, 30_000);
    // One consent question and one confirmation each: no duplicate was taken for a new message.
    for (const waId of phones) expect(sentTo(waId).map((m) => m.body.slice(0, 13)), waId).to.deep.equal(['Möchtest du i', 'Danke! Du bek']);
    expect(h.sandbox.webhookStats.duplicated, 'webhooks were duplicated').to.be.greaterThan(phones.length);
  });

  it('ends every delivery in the state of its message\'s latest status, read ones read although delivered came after', async () => {
    const before = new Map(phones.map((waId) => [waId, sentTo(waId).length]));
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: DATA, key: 'untidy-webhooks' });
    const plan = await planBroadcast(services(), prepared, h.clock.now());
    const { broadcast } = await createBroadcast(services(), prepared, plan, h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    await waitFor('the broadcast to finish', async () => (await broadcastReport(services(), broadcast.id)).status === 'done', 60_000, 100);
    const broadcastMessages = phones.map((waId) => {
      const sent = sentTo(waId).slice(before.get(waId));
      expect(sent.map((m) => m.type), `one session message to ${waId}`).to.deep.equal(['text']);
      return sent[0];
    });
    await waitFor('the sandbox and the worker to be quiet', quiet, 30_000);
    const expected = broadcastMessages.map((m) => [m?.callbackData, h.sandbox.messages({ to: m?.to }).find((s) => s.wamid === m?.wamid)?.status]);
    expect(expected.filter(([, status]) => status === 'read').length, 'some messages were read (read posted before delivered)').to.be.greaterThan(0);
    const states = await waitFor('every delivery in its final state', async () => {
      const found = await Promise.all(expected.map(async ([id, status]) => [id, (await services().deliveries.get(id ?? ''))?.state, status]));
      return found.every(([, state, status]) => state === status) ? found : undefined;
    }, 20_000);
    expect(states).to.have.length(phones.length);
  });

  it('verifies the signature of a body with escaped non-ASCII over the exact bytes it received', async () => {
    const waId = phones[0] ?? '';
    const { id } = await h.sandbox.inbound({ from: waId, text: 'Grüße 👋' });
    const stored = await waitFor('the inbound stored', async () => (await storedInbound(id)) ?? undefined);
    expect(stored.event).to.deep.include({ text: 'Grüße 👋', userId: h.sandbox.userIdOf(waId) });

    const secret = services().config.whatsapp.appSecret;
    const body = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000001', phone_number_id: services().config.whatsapp.phoneNumberId },
      contacts: [{ profile: { name: 'Jörg' }, wa_id: waId }],
      messages: [{ from: waId, id: 'wamid.ESCAPED1', timestamp: String(Math.floor(h.clock.now().getTime() / 1000)), type: 'text', text: { body: 'Schöne Grüße 🎉' } }],
    } }] }] };
    const escaped = metaJson(body);
    const signature = signBody(escaped, secret);
    const utf8 = JSON.stringify(body);
    expect(utf8).to.not.equal(escaped);
    expect((await h.postWebhook(body, { raw: utf8, secret: null, headers: { 'x-hub-signature-256': signature } })).status, 'the same JSON as UTF-8 is other bytes').to.equal(401);
    expect((await h.postWebhook(body, { raw: escaped, secret: null, headers: { 'x-hub-signature-256': signature } })).status).to.equal(200);
    const escapedStored = await waitFor('the escaped inbound stored', async () => (await storedInbound('wamid.ESCAPED1')) ?? undefined);
    expect(escapedStored.event).to.deep.include({ text: 'Schöne Grüße 🎉', profileName: 'Jörg' });
  });
});
