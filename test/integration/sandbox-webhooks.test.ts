import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { verifySignature } from '../../src/whatsapp/webhook-signature.js';
import { postMessage, sandboxCall, templateBody, textBody } from '../support/sandbox-http.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { captureLogger } from '../support/test-config.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'sandbox-webhook-token';
const ID = '100000000000088';
const SECRET = 'sandbox-webhook-secret';
const T = new Date('2026-05-04T08:00:00.000Z');

describe('sandbox: webhooks to the worker', () => {
  const clock = new ManualClock(T);
  const receiver = new WebhookReceiver();
  const started: Sandbox[] = [];

  async function sandboxWith(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const sandbox = await startSandbox({ clock, token: TOKEN, phoneNumberId: ID, appSecret: SECRET, mps: 0, pairRate: false, webhookUrl: receiver.url, ...options });
    started.push(sandbox);
    return sandbox;
  }

  before(async () => {
    await receiver.start();
  });

  beforeEach(() => {
    receiver.clear();
    receiver.status = 200;
    clock.set(T);
  });

  afterEach(async () => {
    for (const sandbox of started.splice(0)) await sandbox.stop();
  });

  after(async () => {
    await receiver.stop();
  });

  it('signs every webhook with the app secret: it verifies with that secret and fails with another', async () => {
    const sandbox = await sandboxWith();
    const { delivered } = await sandbox.inbound({ from: '4915200000001', text: 'Hallo' });
    expect(delivered).to.equal(true);
    const [hook] = receiver.received;
    expect(hook).to.not.equal(undefined);
    const header = hook?.headers['x-hub-signature-256'];
    expect(header).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(hook?.raw ?? Buffer.alloc(0), header, SECRET)).to.deep.equal({ ok: true });
    expect(verifySignature(hook?.raw ?? Buffer.alloc(0), header, 'another-secret').ok).to.equal(false);
  });

  it('sends sent, delivered and read statuses echoing the callback data, with pricing', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 0 } });
    await sandbox.inbound({ from: '4915200000002', text: 'Hallo' });
    const answer = await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000002', 'Neue Zahlen', 'delivery-42'));
    const wamid = answer.body.messages?.[0]?.id;
    const statuses = await waitFor('three statuses', () => (receiver.statuses().length >= 3 ? receiver.statuses() : undefined));
    expect(statuses.map((s) => s.status)).to.deep.equal(['sent', 'delivered', 'read']);
    const userId = sandbox.userIdOf('4915200000002');
    for (const s of statuses) {
      expect(s).to.include({ id: wamid, recipient_id: '4915200000002', recipient_user_id: userId, biz_opaque_callback_data: 'delivery-42', timestamp: String(T.getTime() / 1000) });
      expect(s.pricing).to.deep.equal({ billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service' });
    }
    // One status per POST, as the platform sends them, each naming its contact by number and BSUID.
    const posts = receiver.received.slice(1);
    expect(posts.map((p) => p.body.entry[0]?.changes[0]?.value.statuses?.length)).to.deep.equal([1, 1, 1]);
    for (const p of posts) expect(p.body.entry[0]?.changes[0]?.value.contacts).to.deep.equal([{ wa_id: '4915200000002', user_id: userId }]);
    expect(receiver.received[1]?.body.entry[0]?.changes[0]?.value.metadata).to.deep.equal({ display_phone_number: '15550000001', phone_number_id: ID });
    await waitFor('the final status in /_sandbox/messages', () => sandbox.messages()[0]?.status === 'read');
  });

  it('prices by the rate card\'s dated rules: from 2026-10-01 a message inside the window is charged at the utility rate', async () => {
    clock.set(new Date('2026-11-02T08:00:00.000Z'));
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 5, deliveredProbability: 0, readProbability: 0 } });
    await sandbox.inbound({ from: '4915200000005', text: 'Hallo' });
    await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000005', 'Neue Zahlen', 'in-window-session'));
    await postMessage(sandbox.url, ID, TOKEN, templateBody('4915200000005', 'hello_world', 'en_US', 'in-window-utility'));
    const statuses = await waitFor('two sent statuses', () => (receiver.statuses().length >= 2 ? receiver.statuses() : undefined));
    const byCallback = new Map(statuses.map((s) => [s.biz_opaque_callback_data, s.pricing]));
    expect(byCallback.get('in-window-session')).to.deep.equal({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'service' });
    expect(byCallback.get('in-window-utility')).to.deep.equal({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' });
  });

  it('prices a marketing template as regular and can skip delivered when a message is read at once', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 1 } });
    await postMessage(sandbox.url, ID, TOKEN, templateBody('4915200000003', 'still_interested', 'de', 'tpl-1'));
    const statuses = await waitFor('two statuses', () => (receiver.statuses().length >= 2 ? receiver.statuses() : undefined));
    expect(statuses.map((s) => s.status)).to.deep.equal(['sent', 'read']);
    expect(statuses[0]?.pricing).to.deep.equal({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' });
  });

  it('batches several due statuses into one POST when asked to (quirks.statusBatch)', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 100, deliveredProbability: 0, readProbability: 0, batchWindowMs: 100 }, quirks: { statusBatch: 1000 } });
    await Promise.all([1, 2, 3, 4, 5].map((i) => postMessage(sandbox.url, ID, TOKEN, templateBody(`491520000010${i}`, 'hello_world', 'en_US', `b-${i}`))));
    await waitFor('five sent statuses', () => receiver.statuses().length >= 5);
    expect(receiver.received).to.have.length(1);
    expect(receiver.statuses().map((s) => s.biz_opaque_callback_data).sort()).to.deep.equal(['b-1', 'b-2', 'b-3', 'b-4', 'b-5']);
  });

  it('accepts a free-form message outside the window and fails it with a failed status (131047), as the platform does', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 5 } });
    const answer = await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000004', 'zu spät', 'late-1'));
    expect(answer.status).to.equal(200);
    const [failed] = await waitFor('a failed status', () => (receiver.statuses().length >= 1 ? receiver.statuses() : undefined));
    expect(failed).to.include({ status: 'failed', id: answer.body.messages?.[0]?.id, recipient_id: '4915200000004', biz_opaque_callback_data: 'late-1' });
    expect(failed?.errors?.[0]?.code).to.equal(131047);
    // A failed status of a message sent to the phone number names no BSUID and no contacts, as on the platform.
    expect(failed).to.not.have.property('recipient_user_id');
    expect(receiver.received[0]?.body.entry[0]?.changes[0]?.value).to.not.have.property('contacts');
    await waitFor('failed in /_sandbox/messages', () => sandbox.messages()[0]?.status === 'failed');
  });

  it('delivers a forced error as a failed status after sent when asked to', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 5, deliveredDelayMs: 5 } });
    sandbox.setContact({ phone: '4915200000005', forceError: { code: 131049, via: 'status', times: 1 } });
    expect((await postMessage(sandbox.url, ID, TOKEN, templateBody('4915200000005'))).status).to.equal(200);
    const statuses = await waitFor('sent and failed', () => (receiver.statuses().length >= 2 ? receiver.statuses() : undefined));
    expect(statuses.map((s) => [s.status, s.errors?.[0]?.code])).to.deep.equal([['sent', undefined], ['failed', 131049]]);
  });

  describe('inbound simulation', () => {
    it('a text opens the window and arrives as a Meta messages webhook', async () => {
      const sandbox = await sandboxWith({ outsideWindow: 'error' });
      expect((await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000006'))).body.error?.code).to.equal(131047);
      const result = await sandboxCall<{ id: string; delivered: boolean }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: '+4915200000006', text: 'START', name: 'Ada' });
      expect(result.body.delivered).to.equal(true);
      const body = receiver.received[0]?.body;
      expect(body?.object).to.equal('whatsapp_business_account');
      expect(body?.entry[0]?.changes[0]?.field).to.equal('messages');
      const value = body?.entry[0]?.changes[0]?.value;
      const userId = sandbox.userIdOf('4915200000006');
      expect(userId).to.match(/^DE\.\d{1,39}$/);
      expect(value?.contacts).to.deep.equal([{ profile: { name: 'Ada' }, wa_id: '4915200000006', user_id: userId }]);
      expect(value?.messages).to.deep.equal([{ from: '4915200000006', from_user_id: userId, id: result.body.id, timestamp: String(T.getTime() / 1000), type: 'text', text: { body: 'START' } }]);
      expect((await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000006'))).status).to.equal(200);
    });

    it('a reply-button tap and a template quick-reply tap arrive in their Meta shapes', async () => {
      const sandbox = await sandboxWith();
      await sandbox.inbound({ from: '4915200000007', button: { id: 'keep', title: 'Ja, weiter' }, context: 'wamid.NUDGE' });
      await sandbox.inbound({ from: '4915200000007', payload: 'stop', text: 'Stop', timestamp: T.getTime() / 1000 - 60 });
      const [button, payload] = receiver.received.map((r) => r.body.entry[0]?.changes[0]?.value.messages?.[0]);
      expect(button).to.deep.include({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'keep', title: 'Ja, weiter' } }, context: { from: '15550000001', id: 'wamid.NUDGE' } });
      expect(payload).to.deep.include({ type: 'button', button: { payload: 'stop', text: 'Stop' }, timestamp: String(T.getTime() / 1000 - 60) });
      expect((await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000007'))).status).to.equal(200);
    });

    it('reports an undelivered webhook and retries it', async () => {
      const sandbox = await sandboxWith();
      receiver.status = 500;
      const { delivered } = await sandbox.inbound({ from: '4915200000008', text: 'x' });
      expect(delivered).to.equal(false);
      receiver.status = 200;
      await waitFor('the retried webhook', () => sandbox.webhookStats.delivered === 1);
      expect(receiver.received).to.have.length(2);
    });

    it('takes a webhook URL set after start', async () => {
      const sandbox = await sandboxWith({ webhookUrl: undefined });
      expect((await sandbox.inbound({ from: '4915200000009', text: 'x' })).delivered).to.equal(false);
      expect((await sandboxCall(sandbox.url, 'PUT', '/_sandbox/webhook', { url: receiver.url })).status).to.equal(200);
      expect((await sandbox.inbound({ from: '4915200000009', text: 'y' })).delivered).to.equal(true);
    });
  });

  describe('retries of webhooks not answered with 2xx', () => {
    /** Small waits, so that many more attempts than the old four (6 s) fit in a short test. */
    const quick = { firstDelayMs: 5, maxDelayMs: 20, forMs: 600_000 };
    const inboundId = (hook: { body: { entry: { changes: { value: { messages?: Record<string, unknown>[] } }[] }[] } } | undefined) => hook?.body.entry[0]?.changes[0]?.value.messages?.[0]?.id;

    it('keeps retrying a receiver answering 500 far beyond the old 4 attempts, and the webhook arrives once it answers 200', async () => {
      const sandbox = await sandboxWith({ webhookRetry: quick });
      receiver.status = 500;
      const { id, delivered } = await sandbox.inbound({ from: '4915200000011', text: 'Fallzahlen' });
      expect(delivered).to.equal(false);
      await waitFor('ten refused attempts', () => receiver.received.length >= 10);
      receiver.status = 200;
      await waitFor('the webhook to be delivered', () => sandbox.webhookStats.delivered === 1);
      expect(new Set(receiver.received.map((r) => r.raw.toString('utf8'))).size, 'the same bytes at every attempt').to.equal(1);
      expect(inboundId(receiver.received.at(-1))).to.equal(id);
      expect(sandbox.webhookStats).to.include({ pending: 0, failed: 0, dropped: 0 });
    });

    it('keeps retrying while the receiver is down (connections dropped) and delivers once it is back', async () => {
      const proxy = new TcpProxy('127.0.0.1', Number(new URL(receiver.url).port));
      await proxy.start();
      try {
        proxy.cut();
        const sandbox = await sandboxWith({ webhookRetry: quick, webhookUrl: `http://127.0.0.1:${proxy.port}/webhooks/whatsapp` });
        const { id, delivered } = await sandbox.inbound({ from: '4915200000012', text: 'Fallzahlen' });
        expect(delivered).to.equal(false);
        await waitFor('eight failed retries', () => sandbox.webhookStats.retries >= 8);
        expect(receiver.received).to.have.length(0);
        proxy.restore();
        await waitFor('the webhook to arrive', () => receiver.received.length === 1);
        expect(inboundId(receiver.received[0])).to.equal(id);
        await waitFor('nothing left waiting', () => sandbox.webhookStats.pending === 0);
      } finally {
        await proxy.stop();
      }
    });

    it('gives up after the retry time, counted as failed', async () => {
      const sandbox = await sandboxWith({ webhookRetry: { ...quick, forMs: 80 } });
      receiver.status = 500;
      await sandbox.inbound({ from: '4915200000013', text: 'x' });
      await waitFor('the webhook given up', () => sandbox.webhookStats.failed === 1);
      expect(sandbox.webhookStats.pending).to.equal(0);
      expect(receiver.received.length).to.be.greaterThan(2);
    });

    it('keeps at most maxPending waiting: the oldest is dropped with a warning and counted; a new URL sends the rest at once', async () => {
      const { logger, lines } = captureLogger('warn');
      const sandbox = await sandboxWith({ webhookRetry: { firstDelayMs: 600_000, maxDelayMs: 600_000, forMs: 3_600_000, maxPending: 2 }, logger });
      receiver.status = 500;
      const ids = [];
      for (const from of ['4915200000014', '4915200000015', '4915200000016']) ids.push((await sandbox.inbound({ from, text: 'x' })).id);
      expect(sandbox.webhookStats).to.include({ pending: 2, dropped: 1, delivered: 0 });
      expect(lines.filter((l) => l.includes('webhook dropped'))).to.have.length(1);
      receiver.clear();
      receiver.status = 200;
      sandbox.setWebhookUrl(receiver.url);
      await waitFor('the two kept webhooks', () => receiver.received.length === 2);
      expect(receiver.received.map(inboundId).sort()).to.deep.equal(ids.slice(1).sort());
      expect(sandbox.webhookStats).to.include({ pending: 0, delivered: 2 });
    });

    it('stops retrying when the sandbox stops', async () => {
      const sandbox = await sandboxWith({ webhookRetry: quick });
      receiver.status = 500;
      await sandbox.inbound({ from: '4915200000017', text: 'x' });
      await waitFor('a few refused attempts', () => receiver.received.length >= 3);
      await sandbox.stop();
      const attempts = receiver.received.length;
      // Thirty times the longest wait between two attempts: a retry still scheduled would have come.
      await sleep(30 * quick.maxDelayMs);
      expect(receiver.received.length).to.equal(attempts);
    });
  });

  it('stop() clears planned statuses and pending retries', async () => {
    const sandbox = await sandboxWith({ statuses: { sentDelayMs: 600_000 } });
    receiver.status = 503;
    await sandbox.inbound({ from: '4915200000010', text: 'x' });
    await postMessage(sandbox.url, ID, TOKEN, textBody('4915200000010'));
    expect(sandbox.pendingStatuses).to.be.greaterThan(0);
    await sandbox.stop();
    expect(sandbox.pendingStatuses).to.equal(0);
  });
});
