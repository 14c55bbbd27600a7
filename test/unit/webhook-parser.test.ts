import { expect } from 'chai';
import { parseWebhook, parseWebhookBody, type ParsedWebhook } from '../../src/whatsapp/webhook-parser.js';
import {
  buttonReply, contact, entry, envelope, messagesChange, PHONE_NUMBER_ID, quickReply, reaction, status, textMessage,
  userPreferencesChange, WABA_ID, type Json,
} from '../support/meta-webhooks.js';

const ALICE = '4915112345678';
const BOB = '12015550123';

function parsed(body: unknown): ParsedWebhook {
  const result = parseWebhook(body);
  if (!result.ok) throw new Error(`expected the body to be accepted, got: ${result.reason}`);
  return result;
}

function rejected(body: unknown): string {
  const result = parseWebhook(body);
  if (result.ok) throw new Error('expected the body to be rejected');
  expect(result.reason).not.to.include('\n');
  return result.reason;
}

const inbound = (...messages: Json[]) => envelope(entry(messagesChange({ contacts: [contact(ALICE)], messages })));

describe('webhook parser', () => {
  it('reads a text message with its sender, profile, E.164 phone and timestamp', () => {
    const { messages, statuses } = parsed(inbound(textMessage(ALICE, 'wamid.A1', 'Fallzahlen', '1741608000')));
    expect(statuses).to.deep.equal([]);
    expect(messages).to.deep.equal([{
      type: 'message', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, id: 'wamid.A1', from: ALICE, phone: '+4915112345678',
      profileName: 'Sheena Nelson', timestamp: new Date(1741608000 * 1000), messageType: 'text', kind: 'text', text: 'Fallzahlen',
    }]);
  });

  it('reads an interactive reply-button tap with its id, title and context', () => {
    const [m] = parsed(inbound(buttonReply(ALICE, 'wamid.A2', 'yes:fallzahlen', 'Ja'))).messages;
    expect(m).to.include({ kind: 'button_reply', buttonId: 'yes:fallzahlen', buttonTitle: 'Ja', contextId: 'wamid.OUT1', messageType: 'interactive' });
    expect(m).not.to.have.property('text');
  });

  it('reads a template quick-reply tap (type button) with payload and text', () => {
    const [m] = parsed(inbound(quickReply(ALICE, 'wamid.A3', 'keep', 'Ja, weiter'))).messages;
    expect(m).to.include({ kind: 'quick_reply', payload: 'keep', text: 'Ja, weiter', buttonTitle: 'Ja, weiter', contextId: 'wamid.TPL1' });
  });

  it('reads a reaction (and a removed reaction) as kind reaction', () => {
    const { messages } = parsed(inbound(reaction(ALICE, 'wamid.A4', 'wamid.OUT1', '👍'), reaction(ALICE, 'wamid.A5', 'wamid.OUT1', '')));
    expect(messages[0]).to.include({ kind: 'reaction', reactionTo: 'wamid.OUT1', emoji: '👍' });
    expect(messages[1]).to.include({ kind: 'reaction', emoji: '' });
  });

  it('reads other message types as kind other', () => {
    const image = { from: ALICE, id: 'wamid.A6', timestamp: '1741608000', type: 'image', image: { id: '123', mime_type: 'image/jpeg' } };
    expect(parsed(inbound(image)).messages[0]).to.include({ kind: 'other', messageType: 'image' });
  });

  it('reads statuses sent, delivered, read and failed with callback data, pricing and errors', () => {
    const pricing = { billable: true, pricing_model: 'PMP', category: 'marketing', type: 'regular' };
    const failedError = { code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'Message failed to send because more than 24 hours have passed' }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' };
    const { statuses, messages } = parsed(envelope(entry(messagesChange({ statuses: [
      status('wamid.O1', 'sent', ALICE, { biz_opaque_callback_data: 'delivery-1', pricing }),
      status('wamid.O1', 'delivered', ALICE, { pricing: { pricing_model: 'PMP', category: 'utility', type: 'free_customer_service', billable: false } }),
      status('wamid.O1', 'read', ALICE),
      status('wamid.O2', 'failed', BOB, { biz_opaque_callback_data: 'delivery-2', errors: [failedError] }),
    ] }))));
    expect(messages).to.deep.equal([]);
    expect(statuses.map((s) => s.status)).to.deep.equal(['sent', 'delivered', 'read', 'failed']);
    expect(statuses[0]).to.deep.equal({
      type: 'status', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, id: 'wamid.O1', status: 'sent', timestamp: new Date(1741608240 * 1000),
      recipientId: ALICE, recipientPhone: '+4915112345678', callbackData: 'delivery-1',
      pricing: { type: 'regular', category: 'marketing', billable: true, pricingModel: 'PMP' },
    });
    expect(statuses[1]?.pricing).to.include({ type: 'free_customer_service', billable: false });
    expect(statuses[3]?.errors).to.deep.equal([{
      code: 131047, title: 'Re-engagement message', message: 'Re-engagement message',
      details: 'Message failed to send because more than 24 hours have passed', href: failedError.href,
    }]);
  });

  it('counts status values it does not know instead of failing', () => {
    const result = parsed(envelope(entry(messagesChange({ statuses: [status('wamid.O1', 'deleted', ALICE), status('wamid.O1', 'read', ALICE)] }))));
    expect(result.statuses).to.have.length(1);
    expect(result.ignored.statuses).to.deep.equal({ deleted: 1 });
  });

  it('reads user_preferences stop and resume', () => {
    const { preferences } = parsed(envelope(entry(userPreferencesChange(ALICE, 'stop'), userPreferencesChange(BOB, 'resume', 1741608400))));
    expect(preferences).to.deep.equal([
      { type: 'user_preference', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, waId: ALICE, phone: '+4915112345678', category: 'marketing_messages', value: 'stop', detail: 'User requested to stop marketing messages', timestamp: new Date(1741608300 * 1000) },
      { type: 'user_preference', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, waId: BOB, phone: '+12015550123', category: 'marketing_messages', value: 'resume', detail: 'User requested to resume marketing messages', timestamp: new Date(1741608400 * 1000) },
    ]);
  });

  it('flattens every entry, change, message and status in one body, in order', () => {
    const body = envelope(
      entry(
        messagesChange({ contacts: [contact(ALICE, 'Alice'), contact(BOB, 'Bob')], messages: [textMessage(ALICE, 'wamid.1', 'START'), textMessage(BOB, 'wamid.2', 'STOP')] }),
        messagesChange({ statuses: [status('wamid.O1', 'delivered', ALICE), status('wamid.O2', 'read', BOB)] }),
      ),
      entry(
        { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1 } },
        messagesChange({ contacts: [contact(BOB, 'Bob')], messages: [buttonReply(BOB, 'wamid.3', 'no:fallzahlen', 'Nein')] }),
        userPreferencesChange(ALICE, 'stop'),
        { field: 'account_update', value: {} },
        { field: 'account_update', value: {} },
      ),
    );
    const result = parsed(body);
    expect(result.messages.map((m) => [m.id, m.profileName])).to.deep.equal([['wamid.1', 'Alice'], ['wamid.2', 'Bob'], ['wamid.3', 'Bob']]);
    expect(result.statuses.map((s) => s.id)).to.deep.equal(['wamid.O1', 'wamid.O2']);
    expect(result.preferences).to.have.length(1);
    expect(result.ignored.fields).to.deep.equal({ message_template_status_update: 1, account_update: 2 });
  });

  it('accepts an empty wa_id when a business-scoped user_id identifies the sender', () => {
    const body = envelope(entry(messagesChange({
      contacts: [{ profile: { name: 'Jo', username: '@jo' }, wa_id: '', user_id: 'DE.1502576394655843' }],
      messages: [{ ...textMessage('', 'wamid.U1', 'Hallo'), from_user_id: 'DE.1502576394655843' }],
    })));
    const [m] = parsed(body).messages;
    expect(m).to.include({ from: '', userId: 'DE.1502576394655843', profileName: 'Jo', username: '@jo' });
    expect(m).not.to.have.property('phone');
    // without from_user_id on the message, the one contact of the change names the sender
    const bare = envelope(entry(messagesChange({ contacts: [{ wa_id: '', user_id: 'DE.42' }], messages: [textMessage('', 'wamid.U2', 'x')] })));
    expect(parsed(bare).messages[0]).to.include({ from: '', userId: 'DE.42' });
  });

  it('keeps the user_id next to the wa_id when both are sent', () => {
    const body = envelope(entry(messagesChange({ contacts: [contact(ALICE, 'A', { user_id: 'DE.7' })], messages: [textMessage(ALICE, 'wamid.U3', 'x')] })));
    expect(parsed(body).messages[0]).to.include({ from: ALICE, phone: '+4915112345678', userId: 'DE.7' });
  });

  it('accepts an envelope without entries or without messages', () => {
    expect(parsed(envelope()).messages).to.deep.equal([]);
    expect(parsed(envelope(entry(messagesChange({})))).messages).to.deep.equal([]);
  });

  describe('rejects, with a reason naming the place', () => {
    it('a wrong object', () => {
      expect(rejected({ object: 'page', entry: [] })).to.equal('object: expected "whatsapp_business_account"');
      expect(rejected({ entry: [] })).to.match(/^object: /);
    });

    it('something that is not an object, or not JSON', () => {
      expect(rejected([])).to.equal('not a JSON object');
      expect(rejected(null)).to.equal('not a JSON object');
      const bad = parseWebhookBody(Buffer.from('{"object":'));
      expect(bad.ok).to.equal(false);
      expect(bad.ok ? '' : bad.reason).to.match(/^malformed JSON: /);
      expect(parseWebhookBody(JSON.stringify(inbound(textMessage(ALICE, 'wamid.J', 'x')))).ok).to.equal(true);
    });

    it('missing fields', () => {
      expect(rejected({ object: 'whatsapp_business_account' })).to.match(/^entry: /);
      expect(rejected(envelope({ id: WABA_ID }))).to.match(/^entry\[0\]\.changes: /);
      const noTimestamp = { from: ALICE, id: 'wamid.X', type: 'text', text: { body: 'x' } };
      expect(rejected(inbound(noTimestamp))).to.match(/^entry\[0\]\.changes\[0\]\.value\.messages\[0\]\.timestamp: /);
      expect(rejected(inbound({ ...textMessage(ALICE, 'wamid.X', 'x'), timestamp: 'yesterday' })))
        .to.equal('entry[0].changes[0].value.messages[0].timestamp: expected seconds since the epoch');
      const noMetadata = envelope(entry({ field: 'messages', value: { messages: [textMessage(ALICE, 'wamid.X', 'x')] } }));
      expect(rejected(noMetadata)).to.match(/^entry\[0\]\.changes\[0\]\.value\.metadata: /);
      expect(rejected(envelope(entry({ field: 'user_preferences', value: { metadata: { phone_number_id: '1' } } })))).to.match(/user_preferences: /);
    });

    it('a message without any sender id', () => {
      const body = envelope(entry(messagesChange({ contacts: [], messages: [textMessage('', 'wamid.X', 'x')] })));
      expect(rejected(body)).to.equal('entry[0].changes[0].value.messages[0]: neither from nor a user_id identifies the sender');
    });

    it('an invalid phone number in from, without echoing it whole', () => {
      const reason = rejected(inbound(textMessage(ALICE, 'wamid.ok', 'x'), textMessage('491511234567', 'wamid.X', 'x')));
      expect(reason).to.match(/^entry\[0\]\.changes\[0\]\.value\.messages\[1\]\.from: not a valid phone number: /);
      expect(reason).not.to.include('491511234567');
      expect(rejected(inbound(textMessage('+4915112345678', 'wamid.X', 'x')))).to.include('a wa_id is 4 to 15 digits');
      expect(rejected(envelope(entry(userPreferencesChange('123', 'stop'))))).to.match(/user_preferences\[0\]\.wa_id: not a valid phone number/);
    });

    it('a status without a valid recipient is kept, without recipientPhone', () => {
      const result = parsed(envelope(entry(messagesChange({ statuses: [status('wamid.O1', 'sent', '', { recipient_user_id: 'DE.9' })] }))));
      expect(result.statuses[0]).to.include({ recipientUserId: 'DE.9' }).and.not.to.have.property('recipientPhone');
    });
  });
});
