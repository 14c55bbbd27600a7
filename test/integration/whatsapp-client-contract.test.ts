import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { PermanentError, RateLimitedError, TransientError } from '../../src/domain/errors.js';
import { CloudApiClient } from '../../src/whatsapp/cloud-api-client.js';
import { isWhatsAppError, WhatsAppPermanentError, WhatsAppRateLimitedError, WhatsAppTransientError, type AnyWhatsAppError } from '../../src/whatsapp/cloud-api-errors.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { StoppableRelay } from '../support/stoppable-relay.js';
import { captureLogger } from '../support/test-config.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'EAAG-contract-secret-token-7f3a9c';
const PHONE_NUMBER_ID = '109876543210';
const DAY = 24 * 60 * 60 * 1000;

/**
 * The real client against the real sandbox over HTTP: every Meta error code arrives as the
 * right error class with the right retry advice, and the token never leaks.
 */
describe('WhatsApp client against the sandbox (contract)', () => {
  const clock = new ManualClock(new Date('2026-03-02T09:00:00Z'));
  const { logger, lines } = captureLogger('debug');
  const thrown: unknown[] = [];
  let sandbox: Sandbox;
  let client: CloudApiClient;
  let phone = 4915100000000;
  const nextPhone = () => `+${++phone}`;

  before(async () => {
    sandbox = await startSandbox({
      // The synchronous 131047 is what this client must classify; the later failed status is the webhook path's (test/e2e).
      clock, token: TOKEN, phoneNumberId: PHONE_NUMBER_ID, appSecret: 'contract-app-secret', mps: 0, pairRate: { intervalMs: 6000, burst: 5 }, outsideWindow: 'error',
      templates: [
        { name: 'daily_update', language: 'de', category: 'UTILITY', status: 'APPROVED', body: 'Neue Zahlen: {{cases}}', quickReplies: 2 },
        { name: 'numbers_pos', language: 'de', category: 'UTILITY', status: 'APPROVED', body: 'Neue Zahlen: {{1}}' },
        { name: 'paused_one', language: 'de', category: 'MARKETING', status: 'PAUSED' },
        { name: 'disabled_one', language: 'de', category: 'MARKETING', status: 'DISABLED' },
      ],
    });
    client = new CloudApiClient({ apiBase: sandbox.url, apiVersion: 'v25.0', token: TOKEN, phoneNumberId: PHONE_NUMBER_ID, timeoutMs: 300, logger });
  });

  after(async () => {
    client?.close();
    await sandbox?.stop();
  });

  async function failure(send: Promise<unknown>): Promise<AnyWhatsAppError> {
    try {
      await send;
    } catch (err) {
      thrown.push(err);
      expect(isWhatsAppError(err), `a WhatsApp error, got ${inspect(err)}`).to.equal(true);
      return err as AnyWhatsAppError;
    }
    throw new Error('expected the send to fail');
  }

  async function openWindow(to: string): Promise<void> {
    await sandbox.inbound({ from: to, text: 'hallo' });
  }

  const text = (to: string) => client.sendText({ to, body: 'Neue Zahlen sind da', callbackData: `d-${to}` });

  describe('success', () => {
    it('sends a session text, buttons and templates and returns the wamid and wa_id', async () => {
      const to = nextPhone();
      await openWindow(to);
      const sent = await text(to);
      expect(sent.wamid).to.match(/^wamid\./);
      expect(sent.waId).to.equal(to.slice(1));
      const buttons = await client.sendButtons({ to, body: 'Weiter Erinnerungen?', buttons: [{ id: 'keep', title: 'Ja, weiter' }, { id: 'stop', title: 'Stop' }], callbackData: 'nudge-1' });
      const named = await client.sendTemplate({ to, name: 'daily_update', language: 'de', bodyParams: { cases: '1234' }, quickReplyPayloads: ['keep', 'stop'], callbackData: 'tpl-1' });
      const positional = await client.sendTemplate({ to, name: 'numbers_pos', language: 'de', bodyParams: ['99'], callbackData: 'tpl-2' });
      const listed = sandbox.messages({ to });
      expect(listed.map((m) => [m.wamid, m.type, m.callbackData])).to.deep.equal([
        [sent.wamid, 'text', `d-${to}`],
        [buttons.wamid, 'interactive', 'nudge-1'],
        [named.wamid, 'template', 'tpl-1'],
        [positional.wamid, 'template', 'tpl-2'],
      ]);
      expect(listed[2]?.body).to.equal('cases=1234');
    });

    it('refuses more than three buttons before sending anything', async () => {
      const to = nextPhone();
      const buttons = ['a', 'b', 'c', 'd'].map((id) => ({ id, title: id }));
      const err = await failure(client.sendButtons({ to, body: 'x', buttons, callbackData: 'd' }));
      expect(err).to.be.instanceOf(WhatsAppPermanentError);
      expect(err.code).to.equal('invalid_message');
      expect(err.message).to.include('buttons');
      expect(sandbox.messages({ to })).to.have.length(0);
    });
  });

  describe('errors by Meta code', () => {
    interface Expectation {
      cls: typeof WhatsAppPermanentError | typeof WhatsAppTransientError | typeof WhatsAppRateLimitedError;
      retry: boolean;
      scope: 'contact' | 'broadcast';
      retryAfterMs?: number;
    }
    const permanent = (scope: 'contact' | 'broadcast'): Expectation => ({ cls: WhatsAppPermanentError, retry: false, scope });
    const limited = (scope: 'contact' | 'broadcast', retryAfterMs: number): Expectation => ({ cls: WhatsAppRateLimitedError, retry: true, scope, retryAfterMs });
    const transient = (scope: 'contact' | 'broadcast', retryAfterMs?: number): Expectation => ({ cls: WhatsAppTransientError, retry: true, scope, retryAfterMs });

    function check(err: AnyWhatsAppError, code: string, expected: Expectation): void {
      expect(err, `${code}: ${err.name}`).to.be.instanceOf(expected.cls);
      expect(err.code).to.equal(code);
      expect(err.retry, `${code} retry`).to.equal(expected.retry);
      expect(err.scope, `${code} scope`).to.equal(expected.scope);
      expect(err.retryAfterMs, `${code} retryAfterMs`).to.equal(expected.retryAfterMs);
      if (expected.cls === WhatsAppPermanentError) expect(err).to.be.instanceOf(PermanentError);
      if (expected.cls === WhatsAppTransientError) expect(err).to.be.instanceOf(TransientError);
      if (expected.cls === WhatsAppRateLimitedError) expect(err).to.be.instanceOf(RateLimitedError);
    }

    const forced: [number, Expectation][] = [
      [130429, limited('broadcast', 1000)],
      [131056, limited('contact', 1000)],
      [4, limited('broadcast', 60_000)],
      [80007, limited('broadcast', 60_000)],
      [131048, permanent('broadcast')],
      [131049, limited('contact', DAY)],
      [131050, permanent('contact')],
      [131000, transient('contact')],
      [131057, transient('broadcast', 60_000)],
      [131026, permanent('contact')],
      [131047, permanent('contact')],
      [132001, permanent('broadcast')],
      [132015, permanent('broadcast')],
      [132016, permanent('broadcast')],
      [190, permanent('broadcast')],
      [999999, permanent('contact')],
    ];
    for (const [code, expected] of forced) {
      it(`${code} forced for a contact arrives as ${expected.cls.name} (retry ${String(expected.retry)}, ${expected.scope})`, async () => {
        const to = nextPhone();
        await openWindow(to);
        sandbox.setContact({ phone: to, forceError: { code, times: 1 } });
        check(await failure(text(to)), String(code), expected);
        await text(to); // only the forced one fails
      });
    }

    it('131047 outside the window, as the sandbox decides it', async () => {
      const to = nextPhone();
      check(await failure(text(to)), '131047', permanent('contact'));
      await openWindow(to);
      clock.advance(DAY);
      check(await failure(text(to)), '131047', permanent('contact'));
      clock.advance(-DAY);
    });

    it('131026 for a number not on WhatsApp', async () => {
      const to = nextPhone();
      sandbox.setContact({ phone: to, onWhatsApp: false });
      check(await failure(client.sendTemplate({ to, name: 'daily_update', language: 'de', bodyParams: { cases: '1' }, callbackData: 'x' })), '131026', permanent('contact'));
    });

    it('131056 from the pair rate', async () => {
      const to = nextPhone();
      await openWindow(to);
      for (let i = 0; i < 5; i++) await text(to);
      check(await failure(text(to)), '131056', limited('contact', 1000));
    });

    it('132001 / 132015 / 132016 for missing, paused and disabled templates', async () => {
      const to = nextPhone();
      const send = (name: string, language = 'de') => failure(client.sendTemplate({ to, name, language, callbackData: 'x' }));
      check(await send('nope'), '132001', permanent('broadcast'));
      check(await send('daily_update', 'fr'), '132001', permanent('broadcast'));
      check(await send('paused_one'), '132015', permanent('broadcast'));
      check(await send('disabled_one'), '132016', permanent('broadcast'));
    });

    it('190 for a wrong token, and the wrong token does not leak either', async () => {
      const other = new CloudApiClient({ apiBase: sandbox.url, apiVersion: 'v25.0', token: `${TOKEN}-revoked`, phoneNumberId: PHONE_NUMBER_ID, logger });
      try {
        const err = await failure(other.sendText({ to: nextPhone(), body: 'x', callbackData: 'x' }));
        check(err, '190', permanent('broadcast'));
        expect(err.httpStatus).to.equal(401);
      } finally {
        other.close();
      }
    });

    it('a timeout is transient, for the whole broadcast, and may have been sent', async () => {
      const to = nextPhone();
      await openWindow(to);
      sandbox.setContact({ phone: to, delayMs: 2000 });
      const err = await failure(text(to));
      check(err, 'timeout', transient('broadcast'));
      expect(err.mayHaveBeenSent).to.equal(true);
    });

    it('a refused connection is transient and was not sent', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const offline = new CloudApiClient({ apiBase: `http://127.0.0.1:${port}`, apiVersion: 'v25.0', token: TOKEN, phoneNumberId: PHONE_NUMBER_ID, logger });
      try {
        const err = await failure(offline.sendText({ to: nextPhone(), body: 'x', callbackData: 'x' }));
        check(err, 'connection', transient('broadcast'));
        expect(err.mayHaveBeenSent).to.equal(false);
      } finally {
        offline.close();
      }
    });

    it('a request that timed out before its connection was made, or while it waited for one, was not sent', async () => {
      // The API unreachable: connects hang. With one connection allowed, the second request
      // waits in the pool. The fan-out retries both instead of leaving them `unknown`.
      const relay = await StoppableRelay.start(Number(new URL(sandbox.url).port));
      const unreachable = new CloudApiClient({ apiBase: relay.url, apiVersion: 'v25.0', token: TOKEN, phoneNumberId: PHONE_NUMBER_ID, logger, timeoutMs: 500, maxSockets: 1 });
      try {
        await relay.unreachable();
        const errors = await Promise.all(['a', 'b'].map((data) => failure(unreachable.sendText({ to: nextPhone(), body: 'x', callbackData: data }))));
        for (const err of errors) {
          check(err, 'timeout', transient('broadcast'));
          expect(err.mayHaveBeenSent).to.equal(false);
          expect(err.message).to.include('no connection to send it on');
        }
      } finally {
        unreachable.close();
        relay.stop();
      }
    });
  });

  describe('connections', () => {
    it('an idle kept-alive connection is closed by the client before the server announced it would close it', async () => {
      // A server that announces a 2-s keep-alive but never closes an idle connection itself:
      // the client must stop using (and close) the connection before that, or a send may go out
      // on a connection the server is closing that instant (ECONNRESET, "maybe sent").
      const closed: true[] = [];
      const server = createHttpServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Keep-Alive': 'timeout=2' });
          res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ wa_id: '4915100000001' }], messages: [{ id: `wamid.${closed.length}` }] }));
        });
      });
      server.keepAliveTimeout = 10 * 60_000;
      server.on('connection', (socket) => socket.on('close', () => closed.push(true)));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const kept = new CloudApiClient({ apiBase: `http://127.0.0.1:${port}`, apiVersion: 'v25.0', token: TOKEN, phoneNumberId: PHONE_NUMBER_ID, timeoutMs: 60_000, logger });
      try {
        expect((await kept.sendText({ to: '+4915100000001', body: 'x', callbackData: 'x' })).wamid).to.equal('wamid.0');
        await waitFor('the idle connection to be closed', () => closed.length === 1, 30_000);
        expect((await kept.sendText({ to: '+4915100000001', body: 'x', callbackData: 'x' })).wamid).to.equal('wamid.1');
      } finally {
        kept.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe('secrets', () => {
    it('the token appears in no error, cause or log line', () => {
      expect(thrown.length).to.be.greaterThan(20);
      expect(lines.length).to.be.greaterThan(20);
      for (const err of thrown) {
        const e = err as Error & { cause?: unknown };
        const views = [e.message, e.stack ?? '', JSON.stringify(e), inspect(e, { depth: 10, showHidden: true }), String(e.cause), String(JSON.stringify(e.cause)), inspect(e.cause, { depth: 10, showHidden: true })];
        for (const view of views) expect(view).not.to.include(TOKEN.slice(5));
        expect(inspect(e.cause, { depth: 10 })).not.to.match(/authorization|bearer|axios/i);
      }
      for (const line of lines) expect(line).not.to.include(TOKEN.slice(5));
      expect(lines.join('\n')).not.to.match(/authorization|bearer/i);
    });
  });
});
