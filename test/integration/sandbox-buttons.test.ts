import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import type { ListedButton, ListedQuickReply } from '../../src/whatsapp/sandbox/sent-buttons.js';
import { postMessage, sandboxCall } from '../support/sandbox-http.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'sandbox-buttons-token';
const ID = '100000000000077';
const TO = '4915200000077';

interface Listed {
  wamid: string;
  type: string;
  buttons?: ListedButton[];
  quickReplies?: ListedQuickReply[];
}

const consentQuestion = (to: string) => ({
  messaging_product: 'whatsapp', to, type: 'interactive',
  interactive: { type: 'button', body: { text: 'Möchtest du informiert werden?' }, action: { buttons: [{ type: 'reply', reply: { id: 'yes:fallzahlen', title: 'Ja' } }, { type: 'reply', reply: { id: 'no:fallzahlen', title: 'Nein' } }] } },
  biz_opaque_callback_data: 'reply-1',
});

describe('sandbox over HTTP: which buttons a contact can tap, and tapping them', () => {
  const receiver = new WebhookReceiver();
  let sandbox: Sandbox;

  before(async () => {
    await receiver.start();
    sandbox = await startSandbox({ clock: new ManualClock(new Date('2026-05-04T08:00:00Z')), token: TOKEN, phoneNumberId: ID, appSecret: 's', mps: 0, pairRate: false, webhookUrl: receiver.url });
  });
  beforeEach(async () => {
    receiver.clear();
    await sandboxCall(sandbox.url, 'POST', '/_sandbox/reset');
  });
  after(async () => {
    await sandbox.stop();
    await receiver.stop();
  });

  /** The inbound messages the "worker" received, as Meta's webhook shows them. */
  const inboundMessages = () => receiver.received.flatMap((r) => r.body.entry[0]?.changes[0]?.value.messages ?? []);

  it('GET /_sandbox/messages lists the reply buttons of an interactive message with their ids and the body that taps each', async () => {
    await sandboxCall(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, text: 'Fallzahlen' }); // opens the window
    const sent = await postMessage(sandbox.url, ID, TOKEN, consentQuestion(TO));
    expect(sent.status).to.equal(200);
    const wamid = sent.body.messages?.[0]?.id as string;
    const listed = await sandboxCall<{ messages: Listed[] }>(sandbox.url, 'GET', `/_sandbox/messages?to=${TO}`);
    expect(listed.body.messages).to.have.length(1);
    expect(listed.body.messages[0]?.buttons).to.deep.equal([
      { id: 'yes:fallzahlen', title: 'Ja', press: { from: TO, button: { id: 'yes:fallzahlen', title: 'Ja' }, context: wamid } },
      { id: 'no:fallzahlen', title: 'Nein', press: { from: TO, button: { id: 'no:fallzahlen', title: 'Nein' }, context: wamid } },
    ]);
  });

  it('GET /_sandbox/messages lists the quick-reply payloads of a template', async () => {
    const sent = await postMessage(sandbox.url, ID, TOKEN, {
      messaging_product: 'whatsapp', to: TO, type: 'template',
      template: { name: 'daily_update', language: { code: 'de' }, components: [
        { type: 'body', parameters: [{ type: 'text', parameter_name: 'cases', text: '12' }] },
        { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'stop' }] },
        { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'keep' }] },
      ] },
    });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(200);
    const wamid = sent.body.messages?.[0]?.id as string;
    const [message] = (await sandboxCall<{ messages: Listed[] }>(sandbox.url, 'GET', `/_sandbox/messages?to=${TO}`)).body.messages;
    expect(message?.buttons).to.equal(undefined);
    expect(message?.quickReplies).to.deep.equal([
      { index: 0, payload: 'keep', press: { from: TO, payload: 'keep', context: wamid } },
      { index: 1, payload: 'stop', press: { from: TO, payload: 'stop', context: wamid } },
    ]);
  });

  it('POST /_sandbox/inbound with a listed "press" body, or with the button id alone, taps it (title and context filled in)', async () => {
    await sandboxCall(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, text: 'Fallzahlen' });
    const wamid = (await postMessage(sandbox.url, ID, TOKEN, consentQuestion(TO))).body.messages?.[0]?.id;
    const [message] = (await sandboxCall<{ messages: Listed[] }>(sandbox.url, 'GET', `/_sandbox/messages?to=${TO}`)).body.messages;
    const pressed = await sandboxCall<{ id: string; delivered: boolean; note?: string }>(sandbox.url, 'POST', '/_sandbox/inbound', message?.buttons?.[0]?.press);
    expect(pressed.status).to.equal(200);
    expect(pressed.body).to.include({ delivered: true }).and.not.have.property('note');
    const byId = await sandboxCall<{ delivered: boolean }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: `+${TO}`, button: { id: 'no:fallzahlen' } });
    expect(byId.status, JSON.stringify(byId.body)).to.equal(200);
    await waitFor('three inbound webhooks', () => inboundMessages().length === 3);
    const [, yes, no] = inboundMessages();
    expect(yes).to.deep.include({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'yes:fallzahlen', title: 'Ja' } } });
    expect(no).to.deep.include({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'no:fallzahlen', title: 'Nein' } } });
    expect((no?.context as { id: string }).id).to.equal(wamid);
  });

  it('a button id alone that the sandbox never sent to that contact is refused with 400 naming the ids it did send', async () => {
    const none = await sandboxCall<{ error: { message: string } }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, button: { id: 'yes' } });
    expect(none.status).to.equal(400);
    expect(none.body.error.message).to.equal(`(#100) button: no message the sandbox sent to ${TO} has reply buttons (GET /_sandbox/messages?to=${TO} lists what it sent)`);
    await sandboxCall(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, text: 'Fallzahlen' });
    await postMessage(sandbox.url, ID, TOKEN, consentQuestion(TO));
    const wrong = await sandboxCall<{ error: { message: string } }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, button: { id: 'yes' } });
    expect(wrong.status).to.equal(400);
    expect(wrong.body.error.message).to.equal(`(#100) button.id: no message the sandbox sent to ${TO} has a button "yes"; its buttons: "yes:fallzahlen" (Ja), "no:fallzahlen" (Nein)`);
    expect(inboundMessages(), 'nothing delivered for a refused tap').to.have.length(1);
  });

  it('a tap with a title on a button the sandbox never sent is still delivered (an old message), with a note naming the real ids', async () => {
    await sandboxCall(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, text: 'Fallzahlen' });
    await postMessage(sandbox.url, ID, TOKEN, consentQuestion(TO));
    const tapped = await sandboxCall<{ delivered: boolean; note: string }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, button: { id: 'yes', title: 'Ja' } });
    expect(tapped.status).to.equal(200);
    expect(tapped.body.delivered).to.equal(true);
    expect(tapped.body.note).to.equal(`delivered, but no message the sandbox sent to ${TO} has a button "yes"; its buttons: "yes:fallzahlen" (Ja), "no:fallzahlen" (Nein)`);
    const payload = await sandboxCall<{ note: string }>(sandbox.url, 'POST', '/_sandbox/inbound', { from: TO, payload: 'keep' });
    expect(payload.body.note).to.equal(`delivered, but no template the sandbox sent to ${TO} has a quick reply "keep"`);
  });
});
