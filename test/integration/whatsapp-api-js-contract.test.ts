import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import type { OnMessageArgs, OnStatusArgs } from 'whatsapp-api-js/emitters';
import { ActionButtons, Body, BodyComponent, BodyParameter, Button, Interactive, PayloadComponent, Template, Text } from 'whatsapp-api-js/messages';
import { WhatsAppAPI } from 'whatsapp-api-js/middleware/node-http';
import { ManualClock } from '../../src/domain/clock.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'EAAG-third-party-contract-token';
const SECRET = 'third-party-app-secret';
const ID = '100000000000123';
const T = new Date('2026-06-01T09:00:00Z');

/** What the library answers for a send or a mark as read: the platform's JSON, success or Graph error. */
interface Answer {
  messages?: { id: string; message_status?: string }[];
  contacts?: { input: string; wa_id?: string; user_id?: string }[];
  success?: boolean;
  error?: { message: string; type: string; code: number; fbtrace_id: string };
}

/**
 * A third-party client written against the real Cloud API (whatsapp-api-js 6.3.0, through its
 * fetch ponyfill and its node:http webhook middleware) against the sandbox over HTTP: what it
 * sends is accepted as the platform accepts it, what the sandbox answers and posts is what the
 * library expects from the platform, its signature check passes on the sandbox's webhooks, and it
 * sees every status. If the sandbox drifts from the platform, a library user finds out here.
 */
describe('whatsapp-api-js 6.3.0 against the sandbox (third-party contract)', () => {
  const clock = new ManualClock(T);
  const messages: OnMessageArgs[] = [];
  const statuses: OnStatusArgs[] = [];
  const reactions: Promise<unknown>[] = [];
  const sandboxes: Sandbox[] = [];
  let sandbox: Sandbox;
  let server: Server;
  let webhookUrl: string;
  let phone = 4915123000000;
  const nextPhone = () => String(++phone);

  /** The library as an application sets it up, its Graph requests sent to `baseUrl` instead of graph.facebook.com. */
  function library(baseUrl: string, token = TOKEN): WhatsAppAPI {
    return new WhatsAppAPI({
      token, appSecret: SECRET, webhookVerifyToken: 'verify-me', v: 'v25.0',
      ponyfill: { subtle: webcrypto.subtle, fetch: (url, init) => fetch(String(url).replace('https://graph.facebook.com', baseUrl), init) },
    });
  }
  let api: WhatsAppAPI;

  async function start(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const started = await startSandbox({
      clock, token: TOKEN, phoneNumberId: ID, appSecret: SECRET, mps: 0, pairRate: false, webhookUrl,
      statuses: { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 0 },
      templates: [
        { name: 'daily_update', language: 'de', category: 'UTILITY', status: 'APPROVED', body: 'Neue Zahlen: {{cases}}', quickReplies: 2 },
        { name: 'login_code', language: 'en', category: 'AUTHENTICATION', status: 'APPROVED', body: 'Your code is {{1}}' },
      ],
      ...options,
    });
    sandboxes.push(started);
    return started;
  }

  before(async () => {
    sandbox = await start();
    api = library(sandbox.url);
    // The application's webhook endpoint, served by the library's own node:http middleware.
    const receiver = library(sandbox.url);
    receiver.on.message = (args) => {
      messages.push(args);
      // What a library user does on a keyword: answer it (to and recipient both set) and mark it as read with a typing indicator.
      if (args.message.type === 'text' && args.message.text.body === 'Fallzahlen') reactions.push(args.reply(new Text('Danke für deine Nachricht ✅')), args.received('text'));
    };
    receiver.on.status = (args) => {
      statuses.push(args);
    };
    server = createServer((request, response) => {
      void receiver.handle_post(request).then((code) => response.writeHead(code).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/webhook`;
    sandbox.setWebhookUrl(webhookUrl);
  });

  after(async () => {
    for (const started of sandboxes) await started.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const statusesOf = (wamid: string) => statuses.filter((s) => s.id === wamid);
  /** To a phone number (the library's string form) or to `{ bsuid }`. */
  const send = async (to: string | { bsuid: string }, message: Text | Template | Interactive) => (await (typeof to === 'string' ? api.sendMessage(ID, to, message) : api.sendMessage(ID, to, message))) as Answer;

  it('verifies the signature of an inbound webhook with an umlaut and an emoji (escaped as the platform does) and reads text, sender and BSUID', async () => {
    const from = nextPhone();
    const { id, delivered } = await sandbox.inbound({ from, text: 'Grüße aus Köln 👋', name: 'Jörg' });
    expect(delivered, 'the library answered 200: its signature check passed').to.equal(true);
    const [message] = messages.filter((m) => m.message.id === id);
    expect(message?.message).to.deep.include({ type: 'text', text: { body: 'Grüße aus Köln 👋' }, from, from_user_id: sandbox.userIdOf(from) });
    expect(message?.contact).to.deep.include({ wa_id: from, user_id: sandbox.userIdOf(from), profile: { name: 'Jörg' } });
    expect(message?.recipient).to.deep.include({ phone: from, bsuid: sandbox.userIdOf(from) });
  });

  it('the same webhook signed with another app secret is refused by the library (401), so the check above is real', async () => {
    const other = await start({ appSecret: 'another-secret', webhookRetry: { forMs: 0 } });
    const { delivered } = await other.inbound({ from: nextPhone(), text: 'Grüße' });
    expect(delivered).to.equal(false);
  });

  it('replies to the message (to and recipient given: to wins) and marks it as read with a typing indicator', async () => {
    const from = nextPhone();
    const { id } = await sandbox.inbound({ from, text: 'Fallzahlen' });
    await waitFor('the reply and the read mark', () => messages.some((m) => m.message.id === id) && reactions.length === 2);
    const [reply, read] = (await Promise.all(reactions)) as [Answer, Answer];
    expect(reply.contacts).to.deep.equal([{ input: from, wa_id: from }]);
    expect(read).to.deep.equal({ success: true });
    expect(sandbox.messages({ to: from }).map((m) => [m.wamid, m.type, m.body])).to.deep.equal([[reply.messages?.[0]?.id, 'text', 'Danke für deine Nachricht ✅']]);
  });

  it('sends a text, a template with a named parameter and quick replies, and reply buttons; every status reaches on.status, one per POST', async () => {
    const to = nextPhone();
    await sandbox.inbound({ from: to, text: 'hallo' });
    const text = await send(to, new Text('Neue Zahlen für Köln: 1.234'));
    const template = await send(to, new Template('daily_update', 'de', new BodyComponent(new BodyParameter('1234', 'cases')), new PayloadComponent('keep'), new PayloadComponent('stop')));
    const buttons = await send(to, new Interactive(new ActionButtons(new Button('keep', 'Ja, weiter'), new Button('stop', 'Stop')), new Body('Weiter Erinnerungen?')));
    const wamids = [text, template, buttons].map((answer) => answer.messages?.[0]?.id ?? '');
    expect(template.messages?.[0]?.message_status).to.equal('accepted');
    expect(sandbox.messages({ to }).map((m) => [m.type, m.body])).to.deep.equal([['text', 'Neue Zahlen für Köln: 1.234'], ['template', 'cases=1234'], ['interactive', 'Weiter Erinnerungen?']]);
    await waitFor('sent, delivered and read of the three messages', () => wamids.every((w) => statusesOf(w).length === 3));
    for (const wamid of wamids) {
      expect(statusesOf(wamid).map((s) => s.status).sort()).to.deep.equal(['delivered', 'read', 'sent']);
      for (const s of statusesOf(wamid)) {
        expect(s.phone).to.equal(to);
        expect(s.recipient).to.deep.include({ phone: to, bsuid: sandbox.userIdOf(to) });
        expect(s.pricing).to.include({ pricing_model: 'PMP' });
      }
    }
  });

  it('sends to the BSUID alone: the answer names the user_id and no wa_id, and the statuses the BSUID and no number', async () => {
    const to = nextPhone();
    const userId = sandbox.userIdOf(to);
    await sandbox.inbound({ from: to, text: 'hallo' });
    const answer = await send({ bsuid: userId }, new Text('Hallo über die BSUID'));
    expect(answer.contacts).to.deep.equal([{ input: userId, user_id: userId }]);
    const wamid = answer.messages?.[0]?.id ?? '';
    expect(sandbox.messages({ to }).map((m) => m.wamid)).to.deep.equal([wamid]);
    await waitFor('its three statuses', () => statusesOf(wamid).length === 3);
    for (const s of statusesOf(wamid)) {
      expect(s.contact).to.deep.include({ user_id: userId, wa_id: undefined });
      expect(s.recipient).to.deep.include({ bsuid: userId, phone: undefined });
    }
  });

  it('refuses an authentication template to a BSUID with 131062 and sends it to the phone number', async () => {
    const to = nextPhone();
    const code = () => new Template('login_code', 'en', new BodyComponent(new BodyParameter('123456')));
    const refused = await send({ bsuid: sandbox.userIdOf(to) }, code());
    expect(refused.error).to.include({ code: 131062, type: 'OAuthException' });
    expect(refused.error?.fbtrace_id).to.be.a('string');
    expect((await send(to, code())).messages?.[0]?.id).to.match(/^wamid\./);
  });

  it('131047 by default as the platform does: the send is accepted and the library sees a failed status with the error', async () => {
    const to = nextPhone();
    const answer = await send(to, new Text('Zu spät'));
    const wamid = answer.messages?.[0]?.id ?? '';
    expect(wamid).to.match(/^wamid\./);
    const [failed] = await waitFor('the failed status', () => (statusesOf(wamid).length > 0 ? statusesOf(wamid) : undefined));
    expect(failed).to.deep.include({ status: 'failed', phone: to });
    expect(failed?.error).to.include({ code: 131047, title: 'Re-engagement message' });
  });

  it('131047 at once with outsideWindow error, and 190 for a wrong token, as Graph errors the library returns', async () => {
    const strict = await start({ outsideWindow: 'error' });
    const refused = (await library(strict.url).sendMessage(ID, nextPhone(), new Text('Zu spät'))) as Answer;
    expect(refused.error).to.include({ code: 131047, message: '(#131047) Re-engagement message', type: 'OAuthException' });
    const wrongToken = (await library(sandbox.url, 'EAAG-wrong').sendMessage(ID, nextPhone(), new Text('x'))) as Answer;
    expect(wrongToken.error).to.include({ code: 190, type: 'OAuthException' });
  });

  it('mark as read of an id that is no message a contact sent answers 131009, as the platform does', async () => {
    const to = nextPhone();
    await sandbox.inbound({ from: to, text: 'hallo' });
    const own = (await send(to, new Text('Hallo'))).messages?.[0]?.id ?? '';
    for (const id of ['wamid.HBgLNDkxNTEyMzQ1Njc4FQIAERgSQUFBQUFBQUFBQUFBQUFBQUFBAA==', own]) {
      const answer = (await api.markAsRead(ID, id)) as Answer;
      expect(answer.error, id).to.include({ code: 131009, type: 'OAuthException' });
      expect(answer.error?.fbtrace_id).to.be.a('string');
    }
  });

  it('an endpoint the sandbox does not serve, and a body that is not JSON, answer Graph errors', async () => {
    const qr = (await api.retrieveQR(ID)) as Answer;
    expect(Object.keys(qr.error ?? {})).to.include.members(['message', 'type', 'code', 'fbtrace_id']);
    expect(qr.error).to.include({ code: 100, type: 'GraphMethodException' });
    const broken = await api.$$apiFetch$$(`https://graph.facebook.com/v25.0/${ID}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"messaging_product":' });
    expect(broken.status).to.equal(400);
    expect(((await broken.json()) as Answer).error).to.include({ code: 100, type: 'OAuthException' });
  });
});
