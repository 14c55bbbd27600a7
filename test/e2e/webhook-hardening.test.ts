import { expect } from 'chai';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { INBOUND, REJECTED_EVENTS, STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import {
  contact, entry, envelope, messagesChange, OTHER_PHONE_NUMBER_ID, status, textMessage, userPreferencesChange, type Json,
} from '../support/meta-webhooks.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

/** What a 200 answer says beside `received`. */
interface Answer {
  received: { messages: number; statuses: number; preferences: number };
  rejected: { events: number; reasons: { where: string; code: string; reason: string }[] };
  otherNumber: { events: number };
  anomalies: { futureTimestamp: number };
}

/**
 * Findings of a fuzz run against the webhook, each replayed as correctly signed requests
 * against a running worker (with its sandbox) and checked in the database, the sandbox, the
 * answer, the log and /metrics.
 */
describe('webhook hardening: correctly signed, hostile input', function () {
  this.timeout(120_000);
  // Messages posted here never went through the sandbox, so it knows of no open window: it takes
  // the replies and reports them failed later, instead of refusing them at once.
  const h = useWorker(import.meta.url, { SANDBOX_OUTSIDE_WINDOW: 'failed-status' });
  const db = () => h.worker.deps.db;
  const contactDoc = (phone: string) => db().collection<{ _id: string; lastInboundAt?: Date }>(CONTACTS).findOne({ _id: phone });
  const inboundDocs = (messageId: string) => db().collection(INBOUND).find({ 'event.id': messageId }).toArray();
  const nowSeconds = () => Math.floor(h.clock.now().getTime() / 1000);
  const post = async (body: unknown) => {
    const answer = await h.postWebhook(body);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).to.equal(200);
    return answer.body as Answer;
  };

  /** Sum of a Prometheus counter's samples whose labels include `labels`. */
  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`${h.worker.url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match?.[1] !== name) continue;
      const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[3]);
    }
    return sum;
  }

  describe('1. far-future timestamps', () => {
    it('do not move the window beyond the receive time; the event is kept with the anomaly and counted', async () => {
      const now = nowSeconds();
      const timestamps: (string | number)[] = ['999999999999', 1e12, '32503680000', '4102444800', String(now + 365 * 86_400), String(now + 2 * 86_400)];
      const before = await metric('optin_webhook_anomalies_total', { anomaly: 'future_timestamp' });
      for (const [i, timestamp] of timestamps.entries()) {
        const waId = `49151000011${String(i).padStart(2, '0')}`;
        const answer = await post(envelope(entry(messagesChange({ contacts: [contact(waId)], messages: [{ ...textMessage(waId, `wamid.FUTURE${i}`, 'Hallo'), timestamp }] }))));
        expect(answer.received.messages, String(timestamp)).to.equal(1);
        expect(answer.anomalies.futureTimestamp).to.equal(1);
      }
      await h.worker.deps.inbound.idle(); // the conversation must not put the claimed time back either
      const receivedAt = h.clock.now().getTime();
      for (const [i, timestamp] of timestamps.entries()) {
        const doc = await contactDoc(`+49151000011${String(i).padStart(2, '0')}`);
        expect(doc?.lastInboundAt?.getTime(), `lastInboundAt for ${timestamp}`).to.be.at.most(receivedAt);
        const [stored] = await inboundDocs(`wamid.FUTURE${i}`);
        expect(stored?.event.anomaly, String(timestamp)).to.equal('timestamp-in-future');
        expect((stored?.event.claimedTimestamp as Date).getTime()).to.be.above(receivedAt);
      }
      expect(await metric('optin_webhook_anomalies_total', { anomaly: 'future_timestamp' }) - before).to.equal(timestamps.length);
    });

    it('a timestamp within the allowed clock skew is believed', async () => {
      const ahead = nowSeconds() + 120;
      const answer = await post(envelope(entry(messagesChange({ contacts: [contact('4915100001200')], messages: [textMessage('4915100001200', 'wamid.SKEW', 'Hallo', String(ahead))] }))));
      expect(answer.anomalies.futureTimestamp).to.equal(0);
      expect((await contactDoc('+4915100001200'))?.lastInboundAt?.getTime()).to.equal(ahead * 1000);
    });
  });

  describe('2. bodies that are not JSON', () => {
    it('get 400 saying where and what kind of error, and neither the answer nor the log quotes the body', async () => {
      const bodies = [
        '[4917621194288,x]',
        '{"object":"whatsapp_business_account","entry":[{"id":"4917621194288"',
        '{"object":"whatsapp_business_account","entry":[{"id":"4917621194288",}]}',
        '{"object":"whatsapp_business_account","entry":[{"id":"4917621194288\u0001"}]}',
        '4917621194288 4917621194288',
      ];
      for (const raw of bodies) {
        const lines = h.logLines.length;
        const answer = await h.postWebhook(undefined, { raw });
        expect(answer.status, raw).to.equal(400);
        const error = (answer.body as { error: string }).error;
        expect(error, raw).to.match(/^malformed JSON: .+ at character \d+$/);
        expect(error, raw).not.to.include('4917621194288');
        const logged = h.logLines.slice(lines).join('\n');
        expect(logged, raw).to.include('webhook rejected');
        expect(logged, raw).not.to.include('4917621194288');
      }
    });

    it('an envelope of the wrong shape is refused without quoting its values', async () => {
      for (const body of [{ object: '4917621194288', entry: [] }, { object: 'whatsapp_business_account', entry: '4917621194288' }]) {
        const lines = h.logLines.length;
        const answer = await h.postWebhook(body);
        expect(answer.status).to.equal(400);
        expect(JSON.stringify(answer.body)).not.to.include('4917621194288');
        expect(h.logLines.slice(lines).join('\n')).not.to.include('4917621194288');
      }
    });
  });

  describe('3. events for another business number', () => {
    it('are acknowledged, not acted on, and counted', async () => {
      const theirs = '4915100002001';
      const ours = '4915100002002';
      const before = await metric('optin_webhook_events_other_number_total');
      const answer = await post(envelope(entry(
        messagesChange({
          contacts: [contact(theirs)],
          messages: [textMessage(theirs, 'wamid.OTHER1', 'Fallzahlen', String(nowSeconds()))],
          statuses: [status('wamid.OTHEROUT', 'delivered', theirs)],
        }, OTHER_PHONE_NUMBER_ID),
        messagesChange({ contacts: [contact(ours)], messages: [textMessage(ours, 'wamid.OURS1', 'Fallzahlen', String(nowSeconds()))] }),
      )));
      expect(answer.received).to.deep.equal({ messages: 1, statuses: 0, preferences: 0 });
      expect(answer.otherNumber.events).to.equal(2);
      await h.worker.deps.inbound.idle();
      expect(await contactDoc(`+${theirs}`)).to.equal(null);
      expect(await inboundDocs('wamid.OTHER1')).to.have.length(0);
      expect(await db().collection(STATUS_EVENTS).countDocuments({ 'event.id': 'wamid.OTHEROUT' })).to.equal(0);
      expect(h.sandbox.messages({ to: theirs }), 'nothing sent from our number').to.have.length(0);
      expect(h.sandbox.messages({ to: ours })).to.have.length.above(0);
      expect(await metric('optin_webhook_events_other_number_total') - before).to.equal(2);
    });
  });

  describe('4. two senders, one message id', () => {
    it('both messages are stored and answered; a retry of the batch changes nothing', async () => {
      const [a, b] = ['4915100003001', '4915100003002'];
      const ts = String(nowSeconds());
      const body = envelope(entry(messagesChange({
        contacts: [contact(a), contact(b)],
        messages: [textMessage(a, 'wamid.SHARED', 'Fallzahlen', ts), textMessage(b, 'wamid.SHARED', 'Fallzahlen', ts)],
      })));
      const answer = await post(body);
      expect(answer.received).to.deep.include({ messages: 2 });
      expect((await inboundDocs('wamid.SHARED')).map((d) => d.event.from).sort()).to.deep.equal([a, b]);
      await waitFor('both consent questions', () => h.sandbox.messages({ to: a }).length === 1 && h.sandbox.messages({ to: b }).length === 1);
      const replay = await post(body);
      // Acknowledged again (Meta must stop retrying); stored once.
      expect(replay.received).to.deep.include({ messages: 2 });
      expect(await inboundDocs('wamid.SHARED')).to.have.length(2);
      await h.worker.deps.inbound.idle();
      expect(h.sandbox.messages({ to: a })).to.have.length(1);
      expect(h.sandbox.messages({ to: b })).to.have.length(1);
    });
  });

  describe('5. message ids', () => {
    it('an id longer than the platform sends is rejected with a reason; the longest accepted id still gets its reply', async () => {
      const [a, b] = ['4915100004001', '4915100004002'];
      const rejected = await post(envelope(entry(messagesChange({ contacts: [contact(a)], messages: [textMessage(a, `wamid.${'A'.repeat(64 * 1024)}`, 'Fallzahlen', String(nowSeconds()))] }))));
      expect(rejected.received.messages).to.equal(0);
      expect(rejected.rejected.events).to.equal(1);
      expect(rejected.rejected.reasons[0]).to.deep.equal({ where: 'entry[0].changes[0].value.messages[0]', code: 'too-long', reason: 'id: longer than 256 characters' });
      expect(await contactDoc(`+${a}`)).to.equal(null);

      const longest = `wamid.${'B'.repeat(250)}`;
      expect((await post(envelope(entry(messagesChange({ contacts: [contact(b)], messages: [textMessage(b, longest, 'Fallzahlen', String(nowSeconds()))] }))))).received.messages).to.equal(1);
      const [reply] = await waitFor('the reply', () => (h.sandbox.messages({ to: b }).length === 1 ? h.sandbox.messages({ to: b }) : undefined));
      expect(reply?.callbackData?.length).to.be.within(1, 512);
      await h.worker.deps.inbound.idle();
      const [stored] = await inboundDocs(longest);
      expect(stored).to.include({ state: 'done' }).and.not.to.have.property('replyError');
      expect(h.sandbox.messages({ to: a })).to.have.length(0);
    });
  });

  describe('6. log lines', () => {
    it('a 1 MiB field writes a bounded log line and a bounded answer', async () => {
      const from = '4'.repeat(1024 * 1024);
      const lines = h.logLines.length;
      const answer = await h.postWebhook(envelope(entry(messagesChange({ contacts: [contact(from)], messages: [textMessage(from, 'wamid.BIGFROM', 'x', String(nowSeconds()))] }))));
      expect(answer.status).to.equal(200);
      expect(JSON.stringify(answer.body).length).to.be.below(4096);
      const logged = h.logLines.slice(lines);
      expect(logged.length).to.be.above(0);
      for (const line of logged) expect(line.length, line.slice(0, 200)).to.be.below(8192);
    });
  });

  describe('7. long texts', () => {
    it('a text over 4,096 characters is rejected per event; 4,096 is accepted', async () => {
      const [a, b, c] = ['4915100007001', '4915100007002', '4915100007003'];
      const ts = String(nowSeconds());
      const answer = await post(envelope(entry(messagesChange({
        contacts: [contact(a), contact(b), contact(c)],
        messages: [textMessage(a, 'wamid.LONG1', 'x'.repeat(4097), ts), textMessage(b, 'wamid.LONG2', 'x'.repeat(3.5 * 1024 * 1024), ts), textMessage(c, 'wamid.MAX', 'y'.repeat(4096), ts)],
      }))));
      expect(answer.received.messages).to.equal(1);
      expect(answer.rejected.reasons.map((r) => r.reason)).to.deep.equal(['text.body: longer than 4096 characters', 'text.body: longer than 4096 characters']);
      expect(await inboundDocs('wamid.LONG1')).to.have.length(0);
      expect(await inboundDocs('wamid.LONG2')).to.have.length(0);
      expect(await contactDoc(`+${a}`)).to.equal(null);
      expect(await inboundDocs('wamid.MAX')).to.have.length(1);
    });
  });

  describe('8. mixed batches', () => {
    it('store what is valid, record each bad event with its reason (no number, no text), answer 200 and count', async () => {
      const [ok1, ok2] = ['4915100005001', '4915100005002'];
      const ts = String(nowSeconds());
      const secret = 'geheimer Text 7731';
      const bad: Json[] = [
        textMessage('00491511234567', 'wamid.MIX.B1', secret, ts),
        textMessage('1234567890123456789012', 'wamid.MIX.B2', secret, ts),
        { ...textMessage('4915100005003', 'wamid.MIX.B3', secret), timestamp: 'yesterday' },
        { from: '4915100005004', id: 'wamid.MIX.B4', timestamp: ts, type: 'hologram', hologram: { body: secret } },
        { from: '4915100005005', timestamp: ts, type: 'text', text: { body: secret } },
        { from: '4915100005006', id: 'wamid.MIX.B6', timestamp: ts, type: 'text' },
      ];
      const body = envelope(entry(
        messagesChange({
          contacts: [contact(ok1), contact(ok2), { wa_id: 4915100005007, profile: { name: secret } }],
          messages: [textMessage(ok1, 'wamid.MIX.OK1', 'Hallo', ts), ...bad, textMessage(ok2, 'wamid.MIX.OK2', 'Hallo', ts)],
          statuses: [status('wamid.MIX.OUT1', 'delivered', ok1), { status: 'read', timestamp: ts, recipient_id: ok1 }, { ...status('wamid.MIX.OUT3', 'read', ok1), timestamp: -5 }],
        }),
        userPreferencesChange(ok2, 'stop'),
        userPreferencesChange('00491511234567', 'stop'),
        { field: 'messages', value: { messaging_product: 'whatsapp', messages: [textMessage(ok1, 'wamid.MIX.NOMETA', 'x', ts)] } },
      ));
      const rejectedBefore = await db().collection(REJECTED_EVENTS).countDocuments();
      const countedBefore = await metric('optin_webhook_events_rejected_total');
      const answer = await post(body);
      expect(answer.received).to.deep.equal({ messages: 2, statuses: 1, preferences: 1 });
      expect(answer.rejected.events).to.equal(11);
      const at = 'entry[0].changes[0].value';
      expect(answer.rejected.reasons.map((r) => [r.where, r.code])).to.deep.equal([
        [`${at}.contacts[2]`, 'invalid-field'],
        [`${at}.messages[1]`, 'invalid-phone'],
        [`${at}.messages[2]`, 'invalid-phone'],
        [`${at}.messages[3]`, 'invalid-timestamp'],
        [`${at}.messages[4]`, 'unknown-type'],
        [`${at}.messages[5]`, 'missing-field'],
        [`${at}.messages[6]`, 'missing-field'],
        [`${at}.statuses[1]`, 'missing-field'],
        [`${at}.statuses[2]`, 'invalid-timestamp'],
        ['entry[0].changes[2].value.user_preferences[0]', 'invalid-phone'],
      ]);
      expect(answer.rejected.reasons[1]?.reason).to.match(/^from: not a valid phone number \(/);
      expect(answer.rejected.reasons[5]?.reason).to.equal('id: missing');

      for (const phone of [ok1, ok2]) expect(await contactDoc(`+${phone}`), phone).not.to.equal(null);
      expect(await inboundDocs('wamid.MIX.OK1')).to.have.length(1);
      expect(await inboundDocs('wamid.MIX.OK2')).to.have.length(1);
      expect(await db().collection(CONTACTS).countDocuments({ _id: { $in: ['+491511234567', '+4915100005003', '+4915100005004', '+4915100005005', '+4915100005006'] } as never })).to.equal(0);
      expect(await db().collection(INBOUND).countDocuments({ 'event.id': { $regex: '^wamid\\.MIX\\.(B|NOMETA)' } })).to.equal(0);

      const records = await db().collection(REJECTED_EVENTS).find().toArray();
      expect(records.length - rejectedBefore).to.equal(11);
      const recorded = JSON.stringify(records);
      for (const hidden of ['00491511234567', '491511234567', '1234567890123456789012', '4915100005003', secret]) expect(recorded, hidden).not.to.include(hidden);
      expect(records.at(-1)).to.include.keys('where', 'code', 'reason', 'kind', 'receivedAt');
      expect(await metric('optin_webhook_events_rejected_total') - countedBefore).to.equal(11);

      // Meta retries: the same batch again stores and records nothing twice.
      const replay = await post(body);
      expect(replay.rejected.events).to.equal(11);
      expect(await inboundDocs('wamid.MIX.OK1')).to.have.length(1);
      expect(await db().collection(REJECTED_EVENTS).countDocuments()).to.equal(records.length);
    });

    it('a body that is not a WhatsApp envelope at all is still 400', async () => {
      const before = await db().collection(REJECTED_EVENTS).countDocuments();
      for (const raw of ['[]', 'null', '"text"', '{"object":"whatsapp_business_account","entry":{}}', '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":"x"}]}', '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{}}]}]}']) {
        const answer = await h.postWebhook(undefined, { raw });
        expect(answer.status, raw).to.equal(400);
      }
      expect(await db().collection(REJECTED_EVENTS).countDocuments()).to.equal(before);
    });

    it('the sandbox refuses the numbers the worker refuses, and what it accepts the worker stores', async () => {
      for (const from of ['00491511234567', '1234567890123456789012', '4915300000001']) {
        const answer = await fetch(`${h.sandbox.url}/_sandbox/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, text: 'Hallo' }) });
        expect(answer.status, from).to.equal(400);
        expect(((await answer.json()) as { error: { message: string } }).error.message, from).to.match(/^\(#100\) from: not a valid phone number/);
        const contactAnswer = await fetch(`${h.sandbox.url}/_sandbox/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: from, onWhatsApp: false }) });
        expect(contactAnswer.status, from).to.equal(400);
      }
      const ok = await fetch(`${h.sandbox.url}/_sandbox/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: '+49 151 0000 6001', text: 'Hallo' }) });
      expect(ok.status).to.equal(200);
      // The worker answered the sandbox's webhook once the batch was stored; the contact follows.
      await waitFor('the contact to be stored', async () => (await contactDoc('+4915100006001')) !== null);
    });
  });
});
