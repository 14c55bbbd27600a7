import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { SandboxStateRepository } from '../../src/store/sandbox-state-repository.js';
import { DEFAULT_TEMPLATES } from '../../src/whatsapp/sandbox/approved-templates.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { postMessage, sandboxCall, templateBody } from '../support/sandbox-http.js';
import { useTestDatabase } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver, type ReceivedWebhook } from '../support/webhook-receiver.js';

const TOKEN = 'sandbox-usernames-token';
const ID = '100000000000077';
const T = new Date('2026-06-01T08:00:00.000Z');
const TEMPLATES = [...DEFAULT_TEMPLATES, { name: 'login_code', language: 'en', category: 'AUTHENTICATION' as const, status: 'APPROVED' as const }];
/** Every status comes within milliseconds: sent, delivered, read. */
const FAST = { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 0 };

interface ContactAnswer {
  ok?: boolean;
  waId?: string;
  userId?: string;
  id?: string;
  delivered?: boolean;
  previous?: { waId: string; userId: string };
  error?: { code: number; message: string };
}

const valueOf = (hook: ReceivedWebhook | undefined) => hook?.body.entry[0]?.changes[0]?.value;

/**
 * The sandbox playing a person with a WhatsApp username (no number shared) and a person who
 * changes their number, seen over HTTP by a plain receiver, with its state in the database so a
 * restart can be checked too.
 */
describe('sandbox: username contacts and number changes', () => {
  const clock = new ManualClock(T);
  const receiver = new WebhookReceiver();
  const running: Sandbox[] = [];
  const database = useTestDatabase(import.meta.url, async () => {
    for (const sandbox of running.splice(0)) await sandbox.stop();
  });

  async function start(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const sandbox = await startSandbox({
      clock, token: TOKEN, phoneNumberId: ID, appSecret: 'usernames-secret', mps: 0, pairRate: false, webhookUrl: receiver.url,
      templates: TEMPLATES, statuses: FAST, store: new SandboxStateRepository(database.db), storeFlushDelayMs: 10, ...options,
    });
    running.push(sandbox);
    return sandbox;
  }

  const contacts = (sandbox: Sandbox, body: unknown) => sandboxCall<ContactAnswer>(sandbox.url, 'POST', '/_sandbox/contacts', body);
  const send = (sandbox: Sandbox, body: unknown) => postMessage(sandbox.url, ID, TOKEN, body);
  const toBsuid = (body: ReturnType<typeof templateBody>, recipient: string) => ({ ...body, to: undefined, recipient });
  /** The webhook of the inbound message with this id. */
  const inboundHook = (id: string) => receiver.received.find((hook) => valueOf(hook)?.messages?.[0]?.id === id);

  before(async () => {
    await receiver.start();
  });
  beforeEach(async () => {
    clock.set(T);
    receiver.clear();
    receiver.status = 200;
    for (const sandbox of running.splice(0)) await sandbox.stop();
    await new SandboxStateRepository(database.db).clear();
  });
  after(async () => {
    await receiver.stop();
  });

  describe('a contact with a username', () => {
    it('writes with the BSUID and username only: no messages[].from, no contacts[].wa_id, the number nowhere in the body', async () => {
      const sandbox = await start();
      const phone = '4915200000401';
      const answer = await contacts(sandbox, { phone: `+${phone}`, username: true });
      expect(answer.status).to.equal(200);
      expect(answer.body).to.deep.equal({ ok: true, waId: phone, userId: sandbox.userIdOf(phone) });

      const { id } = await sandbox.inbound({ from: `+${phone}`, text: 'Fallzahlen', name: 'Ada' });
      const hook = inboundHook(id);
      const value = valueOf(hook);
      const userId = sandbox.userIdOf(phone);
      const username = (value?.contacts?.[0]?.profile as { username?: string } | undefined)?.username;
      expect(username).to.match(/^sandbox_[0-9a-f]{10}$/);
      expect(value?.contacts).to.deep.equal([{ profile: { name: 'Ada', username }, user_id: userId }]);
      expect(value?.messages).to.deep.equal([{ from_user_id: userId, id, timestamp: String(T.getTime() / 1000), type: 'text', text: { body: 'Fallzahlen' } }]);
      expect(hook?.raw.toString('latin1')).to.not.include('15200000401');
    });

    it('keeps a username given by name, and shares the number again after username: false', async () => {
      const sandbox = await start();
      const phone = '4915200000402';
      await contacts(sandbox, { phone, username: 'ada.lovelace' });
      const hidden = valueOf(inboundHook((await sandbox.inbound({ from: phone, text: 'a' })).id));
      expect(hidden?.contacts?.[0]).to.deep.equal({ profile: { name: 'Sandbox Contact', username: 'ada.lovelace' }, user_id: sandbox.userIdOf(phone) });

      expect((await contacts(sandbox, { phone, username: false })).status).to.equal(200);
      const shared = valueOf(inboundHook((await sandbox.inbound({ from: phone, text: 'b' })).id));
      expect(shared?.contacts).to.deep.equal([{ profile: { name: 'Sandbox Contact' }, wa_id: phone, user_id: sandbox.userIdOf(phone) }]);
      expect(shared?.messages?.[0]).to.include({ from: phone, from_user_id: sandbox.userIdOf(phone) });
    });

    it('refuses a username that is no username', async () => {
      const sandbox = await start();
      const answer = await contacts(sandbox, { phone: '4915200000403', username: 'a b' });
      expect(answer.status).to.equal(400);
      expect(answer.body.error?.message).to.include('username');
    });

    it('gets a template sent to the BSUID: statuses without the number, the username on delivered and read; one sent to the number shows it', async () => {
      const sandbox = await start();
      const phone = '4915200000404';
      await contacts(sandbox, { phone, username: 'grace_h' });
      const userId = sandbox.userIdOf(phone);
      const byUserId = await send(sandbox, toBsuid(templateBody('x', 'hello_world', 'en_US', 'to-bsuid'), userId));
      expect(byUserId.status, JSON.stringify(byUserId.body)).to.equal(200);
      expect(byUserId.body.contacts).to.deep.equal([{ input: userId, user_id: userId }]);
      const wamid = byUserId.body.messages?.[0]?.id;
      await waitFor('sent, delivered and read', () => receiver.statuses().filter((s) => s.id === wamid).length === 3);
      const hooks = receiver.received.filter((hook) => valueOf(hook)?.statuses?.[0]?.id === wamid);
      expect(hooks.map((hook) => valueOf(hook)?.statuses?.[0]?.status)).to.deep.equal(['sent', 'delivered', 'read']);
      for (const hook of hooks) {
        expect(valueOf(hook)?.statuses?.[0], 'no recipient_id').to.not.have.property('recipient_id');
        expect(valueOf(hook)?.statuses?.[0]).to.include({ recipient_user_id: userId, biz_opaque_callback_data: 'to-bsuid' });
        expect(hook.raw.toString('latin1')).to.not.include('15200000404');
      }
      expect(hooks.map((hook) => valueOf(hook)?.contacts)).to.deep.equal([
        [{ user_id: userId }],
        [{ user_id: userId, profile: { username: 'grace_h' } }],
        [{ user_id: userId, profile: { username: 'grace_h' } }],
      ]);

      // The business may know the number from elsewhere: a send to it works and its statuses name it.
      const byNumber = await send(sandbox, templateBody(phone, 'hello_world', 'en_US', 'to-number'));
      expect(byNumber.status).to.equal(200);
      const numbered = await waitFor('the sent status of the send to the number', () => receiver.statuses().find((s) => s.id === byNumber.body.messages?.[0]?.id));
      expect(numbered).to.include({ recipient_id: phone, recipient_user_id: userId });
    });

    it('is refused an authentication template at the BSUID (131062), which goes to the number', async () => {
      const sandbox = await start();
      const phone = '4915200000405';
      await contacts(sandbox, { phone, username: true });
      const refused = await send(sandbox, toBsuid(templateBody('x', 'login_code', 'en'), sandbox.userIdOf(phone)));
      expect(refused.status).to.equal(400);
      expect(refused.body.error).to.include({ code: 131062 });
      expect((await send(sandbox, templateBody(phone, 'login_code', 'en'))).status).to.equal(200);
      expect(sandbox.messages({ to: phone }).map((m) => m.templateName)).to.deep.equal(['login_code']);
    });
  });

  describe('a number change', () => {
    it('tells the business with a user_changed_number system message naming both numbers and both BSUIDs', async () => {
      const sandbox = await start();
      const [old, next] = ['4915200000411', '4915200000412'];
      const answer = await contacts(sandbox, { phone: `+${old}`, newPhone: `+${next}`, name: 'Ada' });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      const [oldUserId, newUserId] = [sandbox.userIdOf(old), sandbox.userIdOf(next)];
      expect(newUserId, 'a new number is a new BSUID').to.not.equal(oldUserId);
      expect(answer.body).to.deep.include({ ok: true, delivered: true, waId: next, userId: newUserId, previous: { waId: old, userId: oldUserId } });

      const value = valueOf(receiver.received.at(-1));
      expect(value).to.not.have.property('contacts');
      expect(value?.messages).to.deep.equal([{
        from: old, id: answer.body.id, timestamp: String(T.getTime() / 1000), type: 'system',
        system: { body: `User Ada changed from ${old} to ${next}`, wa_id: next, type: 'user_changed_number', user_id: newUserId, previous_user_id: oldUserId },
      }]);
    });

    it('afterwards the person writes from the new number with a new BSUID; the old number and BSUID get 131026, the new ones work', async () => {
      const sandbox = await start();
      const [old, next] = ['4915200000413', '4915200000414'];
      const oldUserId = sandbox.userIdOf(old);
      expect((await send(sandbox, toBsuid(templateBody('x'), oldUserId))).status, 'the old BSUID worked before').to.equal(200);
      expect((await contacts(sandbox, { phone: old, newPhone: next })).status).to.equal(200);

      const written = valueOf(inboundHook((await sandbox.inbound({ from: next, text: 'neue Nummer' })).id));
      expect(written?.messages?.[0]).to.include({ from: next, from_user_id: sandbox.userIdOf(next) });
      expect(written?.contacts?.[0]?.user_id).to.equal(sandbox.userIdOf(next)).and.not.equal(oldUserId);

      for (const body of [templateBody(old), toBsuid(templateBody('x'), oldUserId)]) {
        const refused = await send(sandbox, body);
        expect(refused.status).to.equal(400);
        expect(refused.body.error?.code).to.equal(131026);
      }
      expect((await send(sandbox, templateBody(next))).status).to.equal(200);
      expect((await send(sandbox, toBsuid(templateBody('x'), sandbox.userIdOf(next)))).status).to.equal(200);
    });

    it('of a person with a username says only user_changed_user_id with the BSUIDs, and they stay without a number', async () => {
      const sandbox = await start();
      const [old, next] = ['4915200000415', '4915200000416'];
      await contacts(sandbox, { phone: old, username: 'hidden.one' });
      const answer = await contacts(sandbox, { phone: old, newPhone: next });
      expect(answer.status).to.equal(200);
      const [oldUserId, newUserId] = [sandbox.userIdOf(old), sandbox.userIdOf(next)];
      const hook = receiver.received.at(-1);
      expect(valueOf(hook)?.messages).to.deep.equal([{
        id: answer.body.id, timestamp: String(T.getTime() / 1000), type: 'system',
        system: { body: `User Sandbox Contact changed from ${oldUserId} to ${newUserId}`, type: 'user_changed_user_id', user_id: newUserId, previous_user_id: oldUserId },
      }]);
      expect(hook?.raw.toString('latin1')).to.not.include('15200000415').and.not.include('15200000416');

      const written = valueOf(inboundHook((await sandbox.inbound({ from: next, text: 'x' })).id));
      expect(written?.contacts).to.deep.equal([{ profile: { name: 'Sandbox Contact', username: 'hidden.one' }, user_id: newUserId }]);
      expect(written?.messages?.[0]).to.not.have.property('from');
    });

    it('is refused from a number not on WhatsApp, to the same number, or with other settings', async () => {
      const sandbox = await start();
      await contacts(sandbox, { phone: '4915200000417', onWhatsApp: false });
      const refusals = [
        [{ phone: '4915200000417', newPhone: '4915200000418' }, 'not on WhatsApp'],
        [{ phone: '4915200000419', newPhone: '+49 152 0000 0419' }, 'the same number'],
        [{ phone: '4915200000419', newPhone: '4915200000420', username: true }, 'username'],
        [{ phone: '4915200000419', newPhone: 'none' }, 'newPhone'],
      ] as const;
      for (const [body, reason] of refusals) {
        const answer = await contacts(sandbox, body);
        expect(answer.status, JSON.stringify(body)).to.equal(400);
        expect(answer.body.error?.message, JSON.stringify(body)).to.include(reason);
      }
      expect(receiver.received, 'no system message for a refused change').to.have.length(0);
      expect((await send(sandbox, templateBody('4915200000419'))).status, 'the number is untouched').to.equal(200);
    });
  });

  it('keeps the username, the number change and a BSUID send\'s planned statuses across a restart', async () => {
    // The sent status is planned 1.5 s after acceptance, and again 1.5 s after the next start.
    const first = await start({ statuses: { ...FAST, sentDelayMs: 1500 } });
    const [hidden, old, next] = ['4915200000421', '4915200000422', '4915200000423'];
    await contacts(first, { phone: hidden, username: 'kept_name' });
    await contacts(first, { phone: old, newPhone: next });
    const pending = await send(first, toBsuid(templateBody('x', 'hello_world', 'en_US', 'across-restart'), first.userIdOf(hidden)));
    expect(pending.status).to.equal(200);
    await first.stop(); // long before its sent status was due
    receiver.clear();

    const second = await start();
    const status = await waitFor('the planned sent status after the restart', () => receiver.statuses().find((s) => s.id === pending.body.messages?.[0]?.id));
    expect(status).to.not.have.property('recipient_id');
    expect(status).to.include({ status: 'sent', recipient_user_id: second.userIdOf(hidden) });

    const written = valueOf(inboundHook((await second.inbound({ from: hidden, text: 'x' })).id));
    expect(written?.contacts).to.deep.equal([{ profile: { name: 'Sandbox Contact', username: 'kept_name' }, user_id: second.userIdOf(hidden) }]);
    expect((await send(second, templateBody(old))).body.error?.code).to.equal(131026);
    expect((await send(second, toBsuid(templateBody('x'), second.userIdOf(old)))).body.error?.code).to.equal(131026);
    expect((await send(second, templateBody(next))).status).to.equal(200);
  });
});
