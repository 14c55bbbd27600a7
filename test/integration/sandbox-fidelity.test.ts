import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { verifySignature } from '../../src/whatsapp/webhook-signature.js';
import { postMessage, sandboxCall, templateBody, textBody } from '../support/sandbox-http.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'sandbox-fidelity-token';
const ID = '100000000000099';
const SECRET = 'sandbox-fidelity-secret';
const T = new Date('2026-05-04T08:00:00.000Z');

interface GraphError {
  error?: { message: string; type: string; code: number; fbtrace_id: string; error_subcode?: number };
}

/** Where the sandbox departs from a tidy fake the way the platform does, seen over HTTP by a plain receiver. */
describe('sandbox: the platform\'s webhook shapes, BSUIDs, mark as read and Graph errors', () => {
  const clock = new ManualClock(T);
  const receiver = new WebhookReceiver();
  const started: Sandbox[] = [];
  const fast = { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 0 };

  async function sandboxWith(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const sandbox = await startSandbox({ clock, token: TOKEN, phoneNumberId: ID, appSecret: SECRET, mps: 0, pairRate: false, webhookUrl: receiver.url, ...options });
    started.push(sandbox);
    return sandbox;
  }

  const send = (sandbox: Sandbox, body: unknown) => postMessage(sandbox.url, ID, TOKEN, body);

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

  describe('webhook bodies', () => {
    it('escapes non-ASCII as the platform does (\\u00fc, an emoji as two surrogates) and signs those exact bytes', async () => {
      const sandbox = await sandboxWith();
      await sandbox.inbound({ from: '4915200000201', text: 'Grüße 👋', name: 'Jörg' });
      const [hook] = receiver.received;
      const raw = hook?.raw ?? Buffer.alloc(0);
      expect([...raw].every((byte) => byte < 0x80), 'only ASCII bytes').to.equal(true);
      expect(raw.toString('latin1')).to.include('"Gr\\u00fc\\u00dfe \\ud83d\\udc4b"').and.include('"J\\u00f6rg"');
      expect(verifySignature(raw, hook?.headers['x-hub-signature-256'], SECRET)).to.deep.equal({ ok: true });
      // The same JSON written as raw UTF-8 is other bytes: a receiver must hash what it received.
      const reencoded = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
      expect(verifySignature(reencoded, hook?.headers['x-hub-signature-256'], SECRET).ok).to.equal(false);
      expect(hook?.body.entry[0]?.changes[0]?.value.messages?.[0]).to.deep.include({ text: { body: 'Grüße 👋' } });
    });

    it('can post read before delivered for a message (quirks.outOfOrder)', async () => {
      const sandbox = await sandboxWith({ statuses: fast, quirks: { outOfOrder: 1 } });
      await sandbox.inbound({ from: '4915200000202', text: 'x' });
      const wamid = (await send(sandbox, textBody('4915200000202'))).body.messages?.[0]?.id;
      await waitFor('three statuses', () => receiver.statuses().length === 3);
      expect(receiver.statuses().map((s) => [s.id, s.status])).to.deep.equal([[wamid, 'sent'], [wamid, 'read'], [wamid, 'delivered']]);
      await waitFor('read kept as the final status', () => sandbox.messages()[0]?.status === 'read');
    });

    it('can post each webhook twice, same bytes and signature (quirks.duplicates)', async () => {
      const sandbox = await sandboxWith({ statuses: { ...fast, readProbability: 0, deliveredProbability: 0 }, quirks: { duplicates: 1 } });
      await sandbox.inbound({ from: '4915200000203', text: 'x' });
      await send(sandbox, textBody('4915200000203'));
      await waitFor('two copies of the inbound and of the sent status', () => receiver.received.length === 4);
      const copies = new Map<string, number>();
      for (const hook of receiver.received) {
        const key = `${hook.raw.toString('latin1')}|${String(hook.headers['x-hub-signature-256'])}`;
        copies.set(key, (copies.get(key) ?? 0) + 1);
      }
      expect([...copies.values()]).to.deep.equal([2, 2]);
      await waitFor('both counted', () => sandbox.webhookStats.duplicated === 2);
    });

    it('can hold each POST back a random time, so later webhooks overtake earlier ones (quirks.delayMs)', async () => {
      const sandbox = await sandboxWith({ quirks: { delayMs: 400 }, seed: 7 });
      const froms = Array.from({ length: 8 }, (_, i) => `49152000003${String(i).padStart(2, '0')}`);
      const ids = (await Promise.all(froms.map((from) => sandbox.inbound({ from, text: 'x' })))).map((r) => r.id);
      const arrived = receiver.received.map((hook) => hook.body.entry[0]?.changes[0]?.value.messages?.[0]?.id);
      expect([...arrived].sort()).to.deep.equal([...ids].sort());
      expect(arrived, 'not in the order they were sent').to.not.deep.equal(ids);
    });

    it('batches statuses of different messages only when asked to (quirks.statusBatch), with each recipient once in contacts', async () => {
      const sandbox = await sandboxWith({ statuses: { sentDelayMs: 100, deliveredProbability: 0, readProbability: 0, batchWindowMs: 100 }, quirks: { statusBatch: 2 } });
      await Promise.all(['4915200000204', '4915200000205', '4915200000206'].map((to) => send(sandbox, templateBody(to))));
      await waitFor('three sent statuses', () => receiver.statuses().length === 3);
      const sizes = receiver.received.map((hook) => hook.body.entry[0]?.changes[0]?.value.statuses?.length);
      expect(sizes.sort()).to.deep.equal([1, 2]);
      const pair = receiver.received.find((hook) => hook.body.entry[0]?.changes[0]?.value.statuses?.length === 2)?.body.entry[0]?.changes[0]?.value;
      expect(pair?.contacts?.map((c) => c.wa_id)).to.deep.equal(pair?.statuses?.map((s) => s.recipient_id));
    });
  });

  describe('business-scoped user ids', () => {
    it('gives each number one BSUID, the same after a restart, another for another business', async () => {
      const first = await sandboxWith();
      const userId = first.userIdOf('+49 152 0000 0207');
      expect(userId).to.match(/^DE\.\d{1,39}$/);
      expect(first.userIdOf('4915200000208')).to.not.equal(userId);
      expect(first.userIdOf('14155550123')).to.match(/^US\./);
      await first.stop();
      expect((await sandboxWith()).userIdOf('4915200000207')).to.equal(userId);
      expect((await sandboxWith({ wabaId: '100000000000555' })).userIdOf('4915200000207')).to.not.equal(userId);
    });

    it('sends to a BSUID given as recipient: the answer has user_id and no wa_id; with to as well, to wins', async () => {
      const sandbox = await sandboxWith();
      const to = '4915200000209';
      const userId = sandbox.userIdOf(to);
      const byUserId = await send(sandbox, { ...templateBody(to), to: undefined, recipient: userId });
      expect(byUserId.status).to.equal(200);
      expect(byUserId.body.contacts).to.deep.equal([{ input: userId, user_id: userId }]);
      const both = await send(sandbox, { ...templateBody('+49 152 0000 0209'), recipient: sandbox.userIdOf('4915200000210') });
      expect(both.body.contacts).to.deep.equal([{ input: '+49 152 0000 0209', wa_id: to }]);
      expect(sandbox.messages({ to }).map((m) => m.wamid)).to.deep.equal([byUserId.body.messages?.[0]?.id, both.body.messages?.[0]?.id]);
    });

    it('names no phone number in the statuses of a message sent to the BSUID', async () => {
      const sandbox = await sandboxWith({ statuses: { ...fast, readProbability: 0, deliveredProbability: 0 } });
      const userId = sandbox.userIdOf('4915200000211');
      await send(sandbox, { ...templateBody('x'), to: undefined, recipient: userId });
      const [hook] = await waitFor('the sent status', () => (receiver.received.length === 1 ? receiver.received : undefined));
      const value = hook?.body.entry[0]?.changes[0]?.value;
      expect(value?.contacts).to.deep.equal([{ user_id: userId }]);
      expect(value?.statuses?.[0]).to.not.have.property('recipient_id');
      expect(value?.statuses?.[0]).to.include({ recipient_user_id: userId, status: 'sent' });
    });

    it('refuses a BSUID of another business or a made-up one (100), and an authentication template to a BSUID (131062)', async () => {
      const sandbox = await sandboxWith({ templates: [{ name: 'login_code', language: 'en', category: 'AUTHENTICATION', status: 'APPROVED' }] });
      const other = await sandboxWith({ wabaId: '100000000000556' });
      for (const recipient of [other.userIdOf('4915200000212'), 'DE.123', 'not-a-bsuid']) {
        const answer = await send(sandbox, { ...templateBody('x', 'login_code', 'en'), to: undefined, recipient });
        expect(answer.body.error, recipient).to.include({ code: 100, message: '(#100) Invalid parameter: recipient' });
      }
      const auth = await send(sandbox, { ...templateBody('x', 'login_code', 'en'), to: undefined, recipient: sandbox.userIdOf('4915200000212') });
      expect(auth.status).to.equal(400);
      expect(auth.body.error).to.include({ code: 131062, type: 'OAuthException' });
      expect((await send(sandbox, { ...templateBody('x'), to: undefined })).body.error?.message).to.equal('(#100) Invalid parameter: to');
    });
  });

  describe('mark as read', () => {
    const read = (sandbox: Sandbox, messageId: string, extra: Record<string, unknown> = {}) => send(sandbox, { messaging_product: 'whatsapp', status: 'read', message_id: messageId, ...extra }) as Promise<{ status: number; body: GraphError & { success?: boolean } }>;

    it('answers success for a message a contact sent, also after a restart and with a typing indicator', async () => {
      const first = await sandboxWith();
      const { id } = await first.inbound({ from: '4915200000213', text: 'hallo' });
      expect(await read(first, id)).to.deep.equal({ status: 200, body: { success: true } });
      expect((await read(first, id, { typing_indicator: { type: 'text' } })).body).to.deep.equal({ success: true });
      await first.stop();
      expect((await read(await sandboxWith(), id)).body).to.deep.equal({ success: true });
    });

    it('answers 131009 for an id that is no message a contact sent (also the business\'s own), 100 for a bad typing indicator', async () => {
      const sandbox = await sandboxWith();
      const { id } = await sandbox.inbound({ from: '4915200000214', text: 'hallo' });
      const own = (await send(sandbox, textBody('4915200000214'))).body.messages?.[0]?.id ?? '';
      const tampered = `${id.slice(0, 10)}${id[10] === 'A' ? 'B' : 'A'}${id.slice(11)}`;
      for (const unknown of [own, 'wamid.nothing', tampered]) {
        const answer = await read(sandbox, unknown);
        expect(answer.status, unknown).to.equal(400);
        expect(answer.body.error, unknown).to.include({ code: 131009, message: '(#131009) Parameter value is not valid' });
      }
      const otherNumber = await sandboxWith({ phoneNumberId: '100000000000777' });
      const elsewhere = await postMessage(otherNumber.url, '100000000000777', TOKEN, { messaging_product: 'whatsapp', status: 'read', message_id: id });
      expect(elsewhere.body.error?.code, 'a message to another phone number').to.equal(131009);
      expect((await read(sandbox, id, { typing_indicator: { type: 'audio' } })).body.error).to.include({ code: 100, message: '(#100) Invalid parameter: typing_indicator.type' });
    });
  });

  describe('every error is Graph-shaped', () => {
    const call = async (sandbox: Sandbox, method: string, path: string, body?: string, contentType = 'application/json') => {
      const response = await fetch(`${sandbox.url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': contentType }) }, body });
      return { status: response.status, body: (await response.json()) as GraphError };
    };
    const graphShaped = (body: GraphError) => {
      expect(body.error?.message).to.be.a('string');
      expect(body.error?.type).to.be.a('string');
      expect(body.error?.code).to.be.a('number');
      expect(body.error?.fbtrace_id).to.be.a('string').with.length.greaterThan(0);
    };

    it('for paths and methods it does not serve', async () => {
      const sandbox = await sandboxWith();
      for (const [method, path, objectId] of [['GET', `/v25.0/${ID}/message_qrdls`, ID], ['GET', '/v25.0/nothing', 'nothing'], ['DELETE', `/v25.0/${ID}/messages`, ID], ['GET', '/_sandbox/nothing', '_sandbox']] as const) {
        const answer = await call(sandbox, method, path);
        expect(answer.status, `${method} ${path}`).to.equal(400);
        graphShaped(answer.body);
        expect(answer.body.error).to.include({ code: 100, type: 'GraphMethodException', error_subcode: 33 });
        expect(answer.body.error?.message).to.match(new RegExp(`^Unsupported ${method.toLowerCase()} request\\. Object with ID '${objectId}' does not exist`));
      }
    });

    it('for a body that is not JSON, a content type it does not take, and bad control input', async () => {
      const sandbox = await sandboxWith();
      const messages = `/v25.0/${ID}/messages`;
      for (const [body, type] of [['{"messaging_product":', 'application/json'], ['to=4915200000215', 'application/x-www-form-urlencoded']] as const) {
        const answer = await call(sandbox, 'POST', messages, body, type);
        expect(answer.status, type).to.equal(400);
        graphShaped(answer.body);
        expect(answer.body.error?.code).to.equal(100);
      }
      const control = await sandboxCall<GraphError>(sandbox.url, 'PUT', '/_sandbox/webhook', { url: 'ftp://x' });
      expect(control.status).to.equal(400);
      graphShaped(control.body);
      const data = await sandboxCall<GraphError>(sandbox.url, 'PUT', '/_sandbox/data/fallzahlen', { data: 1 });
      expect(data.status).to.equal(400);
      graphShaped(data.body);
    });
  });
});
