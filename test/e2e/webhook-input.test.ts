import { expect } from 'chai';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { INBOUND, PREFERENCE_EVENTS, STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import {
  buttonReply, contact, entry, envelope, messagesChange, quickReply, reaction, status, textMessage, userPreferencesChange,
} from '../support/meta-webhooks.js';
import { waitFor } from '../support/wait-for.js';
import { FIXTURE_TIME, useWorker } from '../support/worker-harness.js';

describe('webhook: Meta-format input over HTTP into the real database', function () {
  this.timeout(120_000);
  const h = useWorker(import.meta.url, { WEBHOOK_BODY_LIMIT_BYTES: String(2 * 1024 * 1024) });
  const db = () => h.worker.deps.db;
  const counts = async () => ({
    contacts: await db().collection(CONTACTS).countDocuments(),
    inbound: await db().collection(INBOUND).countDocuments(),
    statuses: await db().collection(STATUS_EVENTS).countDocuments(),
    preferences: await db().collection(PREFERENCE_EVENTS).countDocuments(),
  });
  const contactDoc = (id: string) => db().collection<{ _id: string }>(CONTACTS).findOne({ _id: id });
  /**
   * The worker's replies sent and every status of them posted by the sandbox (one per POST, as the
   * platform does) and stored, so that counts taken next move only by the request under test.
   */
  const quiet = async () => {
    await h.worker.deps.inbound.idle();
    await waitFor('the sandbox to have posted every status', () => {
      const stats = h.sandbox.webhookStats;
      return h.sandbox.pendingStatuses === 0 && stats.inFlight === 0 && stats.pending === 0;
    }, 100_000, 100);
    await h.worker.deps.webhookBatches.idle();
  };

  describe('GET handshake', () => {
    it('answers the challenge when the verify token matches, 403 otherwise', async () => {
      const token = h.worker.deps.config.whatsapp.verifyToken;
      const ok = await fetch(`${h.worker.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=1158201444`);
      expect(ok.status).to.equal(200);
      expect(await ok.text()).to.equal('1158201444');
      const wrong = await fetch(`${h.worker.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`);
      expect(wrong.status).to.equal(403);
      const mode = await fetch(`${h.worker.url}/webhooks/whatsapp?hub.mode=unsubscribe&hub.verify_token=${token}&hub.challenge=1`);
      expect(mode.status).to.equal(403);
    });
  });

  describe('Meta payloads', () => {
    it('stores every message, status and preference of several entries and changes in one POST', async () => {
      const body = envelope(
        entry(
          messagesChange({ contacts: [contact('4915100000001', 'Ada')], messages: [textMessage('4915100000001', 'wamid.T1', 'Hallo')] }),
          messagesChange({ contacts: [contact('4915100000002')], messages: [buttonReply('4915100000002', 'wamid.B1', 'yes:fallzahlen', 'Ja')] }),
        ),
        entry(
          messagesChange({ contacts: [contact('4915100000003')], messages: [quickReply('4915100000003', 'wamid.Q1', 'keep', 'Ja, bitte')] }),
          messagesChange({ statuses: [
            status('wamid.OUT1', 'sent', '4915100000001', { biz_opaque_callback_data: 'delivery-1', pricing: { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' } }),
            status('wamid.OUT1', 'read', '4915100000001'),
            status('wamid.OUT2', 'failed', '4915100000002', { errors: [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable', error_data: { details: 'not on WhatsApp' } }] }),
          ] }),
          userPreferencesChange('4915100000003', 'stop'),
        ),
      );
      const answer = await h.postWebhook(body);
      expect(answer.status).to.equal(200);
      expect(answer.body).to.deep.include({ received: { messages: 3, statuses: 3, preferences: 1 } });
      for (const phone of ['+4915100000001', '+4915100000002', '+4915100000003']) {
        expect((await contactDoc(phone)) as unknown, phone).to.have.property('lastInboundAt');
      }
      expect(((await contactDoc('+4915100000001')) as unknown as { profileName: string }).profileName).to.equal('Ada');
      const failed = await db().collection(STATUS_EVENTS).findOne({ _id: 'wamid.OUT2:failed' as never });
      expect(failed?.event.errors[0].code).to.equal(131026);
      const sentStatus = await db().collection(STATUS_EVENTS).findOne({ _id: 'wamid.OUT1:sent' as never });
      expect(sentStatus?.event).to.deep.include({ callbackData: 'delivery-1' });
      expect(sentStatus?.event.pricing).to.deep.include({ type: 'free_customer_service', category: 'service' });
      const marketing = ((await contactDoc('+4915100000003')) as unknown as { marketing: { value: string; at: Date } }).marketing;
      expect(marketing.value).to.equal('stop');
    });

    it('moves lastInboundAt only forward: a late webhook for an older message does not move it back', async () => {
      const newer = String(Math.floor(FIXTURE_TIME.getTime() / 1000) - 300);
      const older = String(Math.floor(FIXTURE_TIME.getTime() / 1000) - 600);
      await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact('4915100000010')], messages: [textMessage('4915100000010', 'wamid.NEW', 'neu', newer)] }))));
      await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact('4915100000010')], messages: [textMessage('4915100000010', 'wamid.OLD', 'alt', older)] }))));
      const doc = (await contactDoc('+4915100000010')) as unknown as { lastInboundAt: Date };
      expect(doc.lastInboundAt.getTime()).to.equal(Number(newer) * 1000);
    });

    it('a reaction is stored but does not open the window', async () => {
      await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact('4915100000020')], messages: [reaction('4915100000020', 'wamid.R1', 'wamid.OUT1', '❤️')] }))));
      expect(await db().collection(INBOUND).countDocuments({ 'event.id': 'wamid.R1' })).to.equal(1);
      expect(await contactDoc('+4915100000020')).to.equal(null);
    });

    it('a contact with an empty wa_id and a business-scoped user id is stored under that id', async () => {
      const body = envelope(entry(messagesChange({
        contacts: [{ profile: { name: 'Kim' }, wa_id: '', user_id: 'US.13491208655302741918' }],
        messages: [{ from: '', from_user_id: 'US.13491208655302741918', id: 'wamid.U1', timestamp: String(Math.floor(FIXTURE_TIME.getTime() / 1000)), type: 'text', text: { body: 'Hallo' } }],
      })));
      const answer = await h.postWebhook(body);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      const doc = (await contactDoc('user:US.13491208655302741918')) as unknown as { userId: string; lastInboundAt: Date };
      expect(doc.userId).to.equal('US.13491208655302741918');
      expect(doc.lastInboundAt).to.be.instanceOf(Date);
    });

    it('a replayed webhook changes nothing', async () => {
      const body = envelope(entry(messagesChange({
        contacts: [contact('4915100000030')],
        messages: [textMessage('4915100000030', 'wamid.REPLAY', 'Fallzahlen', String(Math.floor(FIXTURE_TIME.getTime() / 1000)))],
        statuses: [status('wamid.OUT9', 'delivered', '4915100000030')],
      })));
      expect((await h.postWebhook(body)).status).to.equal(200);
      await waitFor('the message to be handled', async () => (await h.worker.deps.events.inbound('wamid.REPLAY'))?.state === 'done');
      await quiet();
      const before = { counts: await counts(), contact: await contactDoc('+4915100000030'), sent: h.sandbox.messages({ to: '4915100000030' }).length };
      h.clock.advance(5000);
      const replay = await h.postWebhook(body);
      expect(replay.status).to.equal(200);
      // Acknowledged again so that Meta stops retrying; nothing is stored twice (below).
      expect(replay.body).to.deep.include({ received: { messages: 1, statuses: 1, preferences: 0 } });
      await h.worker.deps.inbound.idle();
      expect(await counts()).to.deep.equal(before.counts);
      expect(await contactDoc('+4915100000030')).to.deep.equal(before.contact);
      expect(h.sandbox.messages({ to: '4915100000030' })).to.have.length(before.sent);
    });

    it('stores a batch of 1,000 inbound messages from different contacts in one POST', async () => {
      const ts = String(Math.floor(FIXTURE_TIME.getTime() / 1000) + 100);
      const ids = Array.from({ length: 1000 }, (_, i) => `49160${String(i).padStart(7, '0')}`);
      const body = envelope(entry(messagesChange({
        contacts: ids.map((id) => contact(id, `Person ${id}`)),
        messages: ids.map((id) => textMessage(id, `wamid.BATCH.${id}`, 'Fallzahlen', ts)),
      })));
      const before = await counts();
      const answer = await h.postWebhook(body);
      expect(answer.status).to.equal(200);
      expect(answer.body).to.deep.include({ received: { messages: 1000, statuses: 0, preferences: 0 } });
      const after = await counts();
      expect(after.inbound - before.inbound).to.equal(1000);
      expect(after.contacts - before.contacts).to.equal(1000);
      expect(await db().collection(CONTACTS).countDocuments({ _id: { $gte: '+49160', $lt: '+49161' } as never, lastInboundAt: new Date(Number(ts) * 1000) })).to.equal(1000);
    });

    it('stores a second batch of 1,000 from the same, now known, contacts (bulk updates of existing documents)', async function () {
      this.timeout(300_000); // waits for the first batch's 1,000 replies to be handled
      // The first batch's consent questions are still being sent and recorded on these contacts:
      // let them finish, so that the counts below are of this batch alone.
      await h.worker.deps.inbound.idle();
      const ts = String(Math.floor(FIXTURE_TIME.getTime() / 1000) + 200);
      const ids = Array.from({ length: 1000 }, (_, i) => `49160${String(i).padStart(7, '0')}`);
      const body = envelope(entry(messagesChange({
        contacts: ids.map((id) => contact(id)),
        messages: ids.map((id) => textMessage(id, `wamid.BATCH2.${id}`, 'Hallo', ts)),
      })));
      const answer = await h.postWebhook(body);
      expect(answer.status).to.equal(200);
      expect(await db().collection(CONTACTS).countDocuments({ _id: { $gte: '+49160', $lt: '+49161' } as never, lastInboundAt: new Date(Number(ts) * 1000) })).to.equal(1000);
    });
  });

  describe('bad input: a clear status and reason, nothing stored, the worker keeps serving', () => {
    before(async function () {
      this.timeout(120_000);
      await quiet();
    });

    const valid = envelope(entry(messagesChange({ contacts: [contact('4915100000099')], messages: [textMessage('4915100000099', 'wamid.BAD', 'Hallo')] })));
    const cases: { name: string; send: () => Promise<{ status: number; body: unknown }>; status: number; reason: RegExp }[] = [
      { name: 'a wrong signature', send: () => h.postWebhook(valid, { secret: 'not-the-app-secret' }), status: 401, reason: /does not match/ },
      { name: 'a missing signature', send: () => h.postWebhook(valid, { secret: null }), status: 401, reason: /missing X-Hub-Signature-256/ },
      {
        name: 'a body altered after signing',
        send: () => h.postWebhook(valid, { headers: { 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) } }),
        status: 401, reason: /does not match/,
      },
      { name: 'malformed JSON', send: () => h.postWebhook(undefined, { raw: '{"object": "whatsapp_business_account", "entry": [' }), status: 400, reason: /malformed JSON/ },
      { name: 'a wrong object', send: () => h.postWebhook({ object: 'page', entry: [] }), status: 400, reason: /object/ },
      { name: 'a body over the limit', send: () => h.postWebhook(undefined, { raw: Buffer.alloc(3 * 1024 * 1024, 0x20) }), status: 413, reason: /too large|body/i },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.status}`, async () => {
        const before = await counts();
        const answer = await c.send();
        expect(answer.status, JSON.stringify(answer.body)).to.equal(c.status);
        expect((answer.body as { error?: string }).error).to.match(c.reason);
        expect(await counts()).to.deep.equal(before);
        expect((await fetch(`${h.worker.url}/healthz`)).status).to.equal(200);
      });
    }

    it('an invalid phone number is refused alone: 200, recorded with its reason, nothing else stored', async () => {
      const before = await counts();
      const answer = await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact('12')], messages: [textMessage('12', 'wamid.BADPHONE', 'Hallo')] }))));
      expect(answer.status).to.equal(200);
      expect(answer.body).to.deep.include({
        received: { messages: 0, statuses: 0, preferences: 0 },
        rejected: { events: 1, reasons: [{ where: 'entry[0].changes[0].value.messages[0]', code: 'invalid-phone', reason: 'from: not a valid phone number (a wa_id is 4 to 15 digits without +)' }] },
      });
      expect(await counts()).to.deep.equal(before);
    });

    it('an altered body with the original signature is refused', async () => {
      const raw = JSON.stringify(valid);
      const { signBody } = await import('../../src/whatsapp/webhook-signature.js');
      const signature = signBody(raw, h.worker.deps.config.whatsapp.appSecret);
      const altered = raw.replace('Hallo', 'Hallo!');
      const before = await counts();
      const answer = await h.postWebhook(undefined, { raw: altered, secret: null, headers: { 'x-hub-signature-256': signature } });
      expect(answer.status).to.equal(401);
      expect(await counts()).to.deep.equal(before);
    });
  });
});
