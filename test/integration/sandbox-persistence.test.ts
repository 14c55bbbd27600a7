import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { SANDBOX_MESSAGES, SANDBOX_WEBHOOKS, SANDBOX_WINDOWS, SandboxStateRepository } from '../../src/store/sandbox-state-repository.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/whatsapp/sandbox/sandbox-server.js';
import type { ListedButton } from '../../src/whatsapp/sandbox/sent-buttons.js';
import { postMessage, sandboxCall, templateBody, textBody } from '../support/sandbox-http.js';
import { useTestDatabase } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'sandbox-persist-token';
const ID = '100000000000066';
const T = new Date('2026-05-04T08:00:00.000Z');

interface Listed {
  wamid: string;
  to: string;
  type: string;
  status: string;
  callbackData?: string;
  buttons?: ListedButton[];
}

const question = (to: string) => ({
  messaging_product: 'whatsapp', to, type: 'interactive',
  interactive: { type: 'button', body: { text: 'Möchtest du informiert werden?' }, action: { buttons: [{ type: 'reply', reply: { id: 'yes:fallzahlen', title: 'Ja' } }, { type: 'reply', reply: { id: 'no:fallzahlen', title: 'Nein' } }] } },
  biz_opaque_callback_data: 'question-1',
});

/**
 * The sandbox started, stopped and started again over the same database, as the worker restarts
 * its built-in sandbox: what a contact did before the restart still counts after it.
 */
describe('sandbox state kept in the database across a restart', () => {
  const clock = new ManualClock(T);
  const receiver = new WebhookReceiver();
  const running: Sandbox[] = [];
  const database = useTestDatabase(import.meta.url, async () => {
    for (const sandbox of running.splice(0)) await sandbox.stop();
  });

  /** One start of the sandbox over the test database (a new repository each time, as a new process would have). */
  async function start(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    const sandbox = await startSandbox({
      clock, token: TOKEN, phoneNumberId: ID, appSecret: 'persist-secret', mps: 0, pairRate: false, webhookUrl: receiver.url,
      store: new SandboxStateRepository(database.db), storeFlushDelayMs: 10, ...options,
    });
    running.push(sandbox);
    return sandbox;
  }

  async function restart(sandbox: Sandbox, options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
    await sandbox.stop();
    return start(options);
  }

  const listed = async (sandbox: Sandbox, to: string) => (await sandboxCall<{ messages: Listed[] }>(sandbox.url, 'GET', `/_sandbox/messages?to=${to}`)).body.messages;

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

  it('a window opened before the restart still takes a session message after it; the messages are listed with their final statuses and buttons', async () => {
    const statuses = { sentDelayMs: 5, deliveredDelayMs: 5, readDelayMs: 5, readProbability: 1, skipDeliveredProbability: 0 };
    // outsideWindow error: a session message outside the window would be refused at once, so a 200 says the window held.
    const first = await start({ statuses, outsideWindow: 'error' });
    const from = '4915200000031';
    expect((await sandboxCall(first.url, 'POST', '/_sandbox/inbound', { from, text: 'Fallzahlen' })).status).to.equal(200);
    const asked = await postMessage(first.url, ID, TOKEN, question(from));
    expect(asked.status).to.equal(200);
    await waitFor('the question to be read', async () => (await listed(first, from))[0]?.status === 'read');

    const second = await restart(first, { statuses, outsideWindow: 'error' });
    const before = await listed(second, from);
    expect(before.map((m) => [m.wamid, m.type, m.status, m.callbackData])).to.deep.equal([[asked.body.messages?.[0]?.id, 'interactive', 'read', 'question-1']]);
    expect(before[0]?.buttons?.map((b) => b.id)).to.deep.equal(['yes:fallzahlen', 'no:fallzahlen']);
    // A tap by id alone still finds the button sent before the restart.
    expect((await sandboxCall(second.url, 'POST', '/_sandbox/inbound', { from, button: { id: 'yes:fallzahlen' } })).status).to.equal(200);

    clock.advance(60 * 60 * 1000);
    const session = await postMessage(second.url, ID, TOKEN, textBody(from, 'Neue Zahlen', 'after-restart'));
    expect(session.status, JSON.stringify(session.body)).to.equal(200);
    expect((await listed(second, from)).map((m) => m.type)).to.deep.equal(['interactive', 'text']);
  });

  it('the inbound ids of a restarted sandbox are new: the worker would drop a repeated one as seen', async () => {
    const first = await start();
    const before = await first.inbound({ from: '4915200000032', text: 'a' });
    const second = await restart(first);
    const after = await second.inbound({ from: '4915200000032', text: 'a' });
    expect(after.id).to.not.equal(before.id);
  });

  it('keeps per-number settings: a forced error counted down before the restart goes on counting after it', async () => {
    const first = await start();
    const to = '4915200000033';
    expect((await sandboxCall(first.url, 'POST', '/_sandbox/contacts', { phone: to, forceError: { code: 131049, times: 2 } })).status).to.equal(200);
    expect((await postMessage(first.url, ID, TOKEN, templateBody(to))).body.error?.code).to.equal(131049);
    const second = await restart(first);
    expect((await postMessage(second.url, ID, TOKEN, templateBody(to))).body.error?.code).to.equal(131049);
    expect((await postMessage(second.url, ID, TOKEN, templateBody(to))).status).to.equal(200);
  });

  it('statuses still planned at the stop go out after the next start, and a webhook waiting for a retry is delivered then', async () => {
    const to = '4915200000034';
    const first = await start({ statuses: { sentDelayMs: 300, deliveredProbability: 0, readProbability: 0 }, webhookRetry: { firstDelayMs: 600_000, maxDelayMs: 600_000 } });
    receiver.status = 503;
    const inbound = await first.inbound({ from: to, text: 'Fallzahlen' });
    expect(inbound.delivered).to.equal(false);
    const sent = await postMessage(first.url, ID, TOKEN, templateBody(to, 'hello_world', 'en_US', 'planned-1'));
    expect(sent.status).to.equal(200);
    await first.stop(); // before the sent status was due, with the inbound webhook waiting for its retry

    receiver.status = 200;
    receiver.clear();
    const second = await start({ webhookUrl: undefined });
    expect(receiver.received, 'nothing goes out before there is a webhook URL').to.have.length(0);
    second.setWebhookUrl(receiver.url);
    await waitFor('the inbound webhook and the sent status', () => receiver.received.length >= 2);
    const inboundIds = receiver.received.flatMap((r) => r.body.entry[0]?.changes[0]?.value.messages ?? []).map((m) => m.id);
    expect(inboundIds).to.deep.equal([inbound.id]);
    expect(receiver.statuses().map((s) => [s.id, s.status, s.biz_opaque_callback_data])).to.deep.equal([[sent.body.messages?.[0]?.id, 'sent', 'planned-1']]);
    await waitFor('sent in /_sandbox/messages', async () => (await listed(second, to))[0]?.status === 'sent');
    await waitFor('nothing left waiting in the database', async () => (await database.db.collection(SANDBOX_WEBHOOKS).countDocuments()) === 0);
  });

  it('POST /_sandbox/reset forgets what is kept too', async () => {
    const first = await start();
    const from = '4915200000035';
    await first.inbound({ from, text: 'hi' });
    expect((await postMessage(first.url, ID, TOKEN, textBody(from))).status).to.equal(200);
    expect((await sandboxCall(first.url, 'POST', '/_sandbox/reset')).status).to.equal(200);
    expect(await database.db.collection(SANDBOX_WINDOWS).countDocuments()).to.equal(0);
    const second = await restart(first, { outsideWindow: 'error' });
    expect(await listed(second, from)).to.deep.equal([]);
    expect((await postMessage(second.url, ID, TOKEN, textBody(from))).body.error?.code, 'the window is forgotten').to.equal(131047);
  });

  it('keeps only the newest maxStoredMessages messages, in the database as in memory', async () => {
    const first = await start({ maxStoredMessages: 3 });
    const to = '4915200000036';
    const wamids: string[] = [];
    for (let i = 0; i < 5; i += 1) wamids.push((await postMessage(first.url, ID, TOKEN, templateBody(to, 'hello_world', 'en_US', `m-${i}`))).body.messages?.[0]?.id as string);
    const second = await restart(first, { maxStoredMessages: 3 });
    expect((await listed(second, to)).map((m) => m.wamid)).to.deep.equal(wamids.slice(2));
    expect(await database.db.collection(SANDBOX_MESSAGES).countDocuments()).to.equal(3);
  });
});
