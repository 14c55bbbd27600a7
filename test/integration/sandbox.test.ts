import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { postMessage, sandboxCall, templateBody, textBody } from '../support/sandbox-http.js';

const TOKEN = 'sandbox-test-token';
const ID = '100000000000077';
const DAY = 24 * 60 * 60 * 1000;
const T = new Date('2026-03-28T12:00:00.000Z');

describe('sandbox: the Cloud API rules', () => {
  const clock = new ManualClock(T);
  let sandbox: Sandbox;
  const send = (body: unknown, token: string | undefined = TOKEN) => postMessage(sandbox.url, ID, token, body);
  const sendWithoutToken = (body: unknown) => postMessage(sandbox.url, ID, undefined, body);

  before(async () => {
    sandbox = await startSandbox({
      // The window's edges are checked on the synchronous answer (the default, failed-status, is in sandbox-webhooks).
      clock, token: TOKEN, phoneNumberId: ID, appSecret: 'secret', mps: 5, pairRate: false, outsideWindow: 'error',
      templates: [
        { name: 'hello_world', language: 'en_US', category: 'UTILITY', status: 'APPROVED' },
        { name: 'numbers', language: 'de', category: 'UTILITY', status: 'APPROVED', body: 'Zahlen: {{cases}}' },
        { name: 'paused_one', language: 'de', category: 'MARKETING', status: 'PAUSED' },
        { name: 'disabled_one', language: 'de', category: 'MARKETING', status: 'DISABLED' },
      ],
    });
  });

  beforeEach(() => {
    sandbox.reset();
    clock.set(T);
  });

  after(async () => {
    await sandbox?.stop();
  });

  describe('the customer service window', () => {
    it('accepts a session message 1 ms before 24 h after the inbound message, refuses it at 24 h with 131047', async () => {
      await sandbox.inbound({ from: '+4915111111111', text: 'hi' });
      clock.set(new Date(T.getTime() + DAY - 1));
      const inside = await send(textBody('4915111111111'));
      expect(inside.status).to.equal(200);
      expect(inside.body.messages?.[0]?.id).to.match(/^wamid\./);
      clock.set(new Date(T.getTime() + DAY));
      const outside = await send(textBody('4915111111111'));
      expect(outside.status).to.equal(400);
      expect(outside.body.error?.code).to.equal(131047);
      expect(outside.body.error?.message).to.equal('(#131047) Re-engagement message');
      expect(outside.body.error?.type).to.equal('OAuthException');
    });

    it('refuses a session message to a contact who never wrote, accepts a template, and a new inbound restarts the 24 h', async () => {
      expect((await send(textBody('4915122222222'))).body.error?.code).to.equal(131047);
      expect((await send(templateBody('4915122222222'))).status).to.equal(200);
      await sandbox.inbound({ from: '4915122222222', text: 'a' });
      clock.advance(DAY - 1000);
      await sandbox.inbound({ from: '4915122222222', text: 'b' });
      clock.advance(DAY - 1);
      expect((await send(textBody('4915122222222'))).status).to.equal(200);
    });

    it('the inbound timestamp (seconds) counts, not the time it was simulated', async () => {
      await sandbox.inbound({ from: '4915133333333', text: 'old', timestamp: T.getTime() / 1000 - DAY / 1000 });
      expect((await send(textBody('4915133333333'))).body.error?.code).to.equal(131047);
    });
  });

  describe('limits', () => {
    it('answers 130429 to a burst above the messages-per-second limit, and accepts again after it refills', async () => {
      const answers = [];
      for (let i = 0; i < 7; i++) answers.push(await send(templateBody(`491514000000${i}`)));
      expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200, 429, 429]);
      expect(answers[5]?.body.error?.code).to.equal(130429);
      clock.advance(199);
      expect((await send(templateBody('4915140000099'))).body.error?.code).to.equal(130429);
      clock.advance(1);
      expect((await send(templateBody('4915140000099'))).status).to.equal(200);
    });

    it('answers 131056 beyond the pair rate, per contact', async () => {
      const paired = await startSandbox({ clock, token: TOKEN, phoneNumberId: ID, appSecret: 's', mps: 0, pairRate: { intervalMs: 6000, burst: 2 } });
      try {
        const codes = [];
        for (let i = 0; i < 3; i++) codes.push((await postMessage(paired.url, ID, TOKEN, templateBody('4915150000000'))).body.error?.code ?? 200);
        codes.push((await postMessage(paired.url, ID, TOKEN, templateBody('4915150000001'))).body.error?.code ?? 200);
        clock.advance(6000);
        codes.push((await postMessage(paired.url, ID, TOKEN, templateBody('4915150000000'))).body.error?.code ?? 200);
        expect(codes).to.deep.equal([200, 200, 131056, 200, 200]);
      } finally {
        await paired.stop();
      }
    });

    it('injects failures (131000, HTTP 500) reproducibly from a seed', async () => {
      const pattern = async () => {
        const flaky = await startSandbox({ clock, token: TOKEN, phoneNumberId: ID, appSecret: 's', mps: 0, pairRate: false, failureRate: 0.5, seed: 7 });
        try {
          const statuses = [];
          for (let i = 0; i < 12; i++) statuses.push((await postMessage(flaky.url, ID, TOKEN, templateBody(`49151600000${String(i).padStart(2, '0')}`))).status);
          return statuses;
        } finally {
          await flaky.stop();
        }
      };
      const first = await pattern();
      expect(first).to.include(500).and.to.include(200);
      expect(await pattern()).to.deep.equal(first);
    });
  });

  describe('contacts and templates', () => {
    it('answers 131026 for a number marked as not on WhatsApp (POST /_sandbox/contacts)', async () => {
      const marked = await sandboxCall<{ ok: boolean; waId: string }>(sandbox.url, 'POST', '/_sandbox/contacts', { phone: '+49 151 7000 0000', onWhatsApp: false });
      expect(marked.body).to.deep.equal({ ok: true, waId: '4915170000000', userId: sandbox.userIdOf('4915170000000') });
      const answer = await send(templateBody('4915170000000'));
      expect(answer.body.error?.code).to.equal(131026);
    });

    it('answers 132001 for a missing template or language, 132015 paused, 132016 disabled, 132000 wrong parameters', async () => {
      const code = async (name: string, language: string) => (await send(templateBody('4915180000000', name, language))).body.error?.code;
      expect(await code('nope', 'de')).to.equal(132001);
      expect(await code('hello_world', 'de')).to.equal(132001);
      expect(await code('paused_one', 'de')).to.equal(132015);
      expect(await code('disabled_one', 'de')).to.equal(132016);
      expect(await code('numbers', 'de')).to.equal(132000);
      clock.advance(1000);
      const named = { ...templateBody('4915180000000', 'numbers', 'de'), template: { name: 'numbers', language: { code: 'de' }, components: [{ type: 'body', parameters: [{ type: 'text', parameter_name: 'cases', text: '12' }] }] } };
      expect((await send(named)).status).to.equal(200);
    });
  });

  describe('requests', () => {
    it('answers 190 with HTTP 401 for a wrong or missing bearer token', async () => {
      for (const answer of [await send(templateBody('4915190000000'), 'wrong'), await sendWithoutToken(templateBody('4915190000000'))]) {
        expect(answer.status).to.equal(401);
        expect(answer.body.error?.code).to.equal(190);
      }
    });

    it('answers error 100 naming the field for a bad body', async () => {
      const cases: [unknown, string][] = [
        [{ ...textBody('4915190000001'), text: {} }, 'text.body'],
        [{ ...textBody('4915190000001'), messaging_product: 'sms' }, 'messaging_product'],
        [{ ...textBody('4915190000001'), to: 'nobody' }, 'to'],
        [{ messaging_product: 'whatsapp', to: '4915190000001', type: 'video' }, 'type'],
        [{ ...templateBody('4915190000001'), template: { name: 'hello_world' } }, 'template.language'],
        [
          { messaging_product: 'whatsapp', to: '4915190000001', type: 'interactive', interactive: { type: 'button', body: { text: 'x' }, action: { buttons: ['a', 'b', 'c', 'd'].map((id) => ({ type: 'reply', reply: { id, title: id } })) } } },
          'interactive.action.buttons',
        ],
      ];
      for (const [body, field] of cases) {
        const answer = await send(body);
        expect(answer.status, field).to.equal(400);
        expect(answer.body.error?.code, field).to.equal(100);
        expect(answer.body.error?.message, field).to.include(field);
      }
      const notJson = await fetch(`${sandbox.url}/v25.0/${ID}/messages`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{nope' });
      expect(notJson.status).to.equal(400);
      expect(((await notJson.json()) as { error: { code: number } }).error.code).to.equal(100);
    });

    it('answers error 100 for another phone number id', async () => {
      const answer = await postMessage(sandbox.url, '999', TOKEN, templateBody('4915190000002'));
      expect(answer.body.error?.code).to.equal(100);
    });
  });

  describe('test endpoints', () => {
    it('GET /_sandbox/messages lists what was accepted, filterable by to; POST /_sandbox/reset forgets it', async () => {
      await sandbox.inbound({ from: '4915200000001', text: 'hi' });
      await send(textBody('4915200000001', 'Neue Zahlen', 'delivery-1'));
      await send(templateBody('+4915200000002', 'hello_world', 'en_US', 'delivery-2'));
      const all = await sandboxCall<{ messages: { to: string; type: string; body: string; callbackData: string; templateName?: string; status: string; acceptedAt: string }[] }>(sandbox.url, 'GET', '/_sandbox/messages');
      expect(all.body.messages).to.have.length(2);
      const one = await sandboxCall<typeof all.body>(sandbox.url, 'GET', '/_sandbox/messages?to=%2B4915200000002');
      expect(one.body.messages).to.have.length(1);
      expect(one.body.messages[0]).to.include({ to: '4915200000002', type: 'template', templateName: 'hello_world', callbackData: 'delivery-2', status: 'accepted', acceptedAt: T.toISOString() });
      expect(all.body.messages[0]).to.include({ type: 'text', body: 'Neue Zahlen', callbackData: 'delivery-1' });
      expect((await sandboxCall(sandbox.url, 'POST', '/_sandbox/reset')).status).to.equal(200);
      expect((await sandboxCall<typeof all.body>(sandbox.url, 'GET', '/_sandbox/messages')).body.messages).to.have.length(0);
      expect((await send(textBody('4915200000001'))).body.error?.code).to.equal(131047);
    });

    it('refuses bad test input with a Graph-shaped 400 naming the field', async () => {
      const inbound = await sandboxCall<{ error: { message: string; code: number } }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: '4915200000003' });
      expect(inbound.status).to.equal(400);
      expect(inbound.body.error).to.include({ code: 100 });
      expect(inbound.body.error.message).to.include('text, button or payload');
      const contact = await sandboxCall<{ error: { message: string } }>(sandbox.url, 'POST', '/_sandbox/contacts', { phone: '4915200000003', forceError: { code: 'x' } });
      expect(contact.status).to.equal(400);
      expect(contact.body.error.message).to.include('forceError.code');
    });
  });
});
