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

  describe('refuses a body that is not an envelope, with a reason naming the place', () => {
    it('a wrong object', () => {
      expect(rejected({ object: 'page', entry: [] })).to.equal('object: expected "whatsapp_business_account"');
      expect(rejected({ entry: [] })).to.equal('object: missing');
    });

    it('something that is not an object, or not JSON, without quoting it', () => {
      expect(rejected([])).to.equal('not a JSON object');
      expect(rejected(null)).to.equal('not a JSON object');
      const reasonOf = (raw: string) => {
        const result = parseWebhookBody(Buffer.from(raw));
        if (result.ok) throw new Error(`expected ${raw} to be refused`);
        return result.reason;
      };
      expect(reasonOf('{"object":')).to.equal('malformed JSON: the text ends too early at character 10');
      expect(reasonOf('[4917621194288,x]')).to.equal('malformed JSON: unexpected character where a value should start at character 15');
      expect(reasonOf('{"a":1 "b":2}')).to.equal('malformed JSON: expected a comma or } at character 7');
      expect(reasonOf('{"a":"x\ty"}')).to.equal('malformed JSON: control character in a string at character 7');
      expect(reasonOf('{"a":"\\q"}')).to.equal('malformed JSON: invalid escape in a string at character 6');
      expect(reasonOf('{1:2}')).to.equal('malformed JSON: expected a string at character 1');
      expect(reasonOf('{"a" 1}')).to.equal('malformed JSON: expected a colon after a key at character 5');
      expect(reasonOf('[1] 2')).to.equal('malformed JSON: unexpected character after the end of the JSON value at character 4');
      expect(reasonOf('')).to.equal('malformed JSON: the text ends too early at character 0');
      expect(reasonOf('['.repeat(100_000))).to.equal('malformed JSON: the text ends too early at character 100000');
      expect(parseWebhookBody(JSON.stringify(inbound(textMessage(ALICE, 'wamid.J', 'x')))).ok).to.equal(true);
    });

    it('an entry or change of the wrong shape', () => {
      expect(rejected({ object: 'whatsapp_business_account' })).to.equal('entry: missing');
      expect(rejected(envelope({ id: WABA_ID }))).to.equal('entry[0].changes: missing');
      expect(rejected(envelope(entry({ value: {} })))).to.equal('entry[0].changes[0].field: missing');
      expect(rejected({ object: 'whatsapp_business_account', entry: {} })).to.equal('entry: expected array');
    });
  });

  describe('inside an envelope, refuses each bad part alone and reads the rest', () => {
    const reasons = (body: unknown) => parsed(body).rejected.map((r) => `${r.where} ${r.code} ${r.reason}`);
    const at = 'entry[0].changes[0].value';

    it('missing fields, bad timestamps, unknown types', () => {
      const noTimestamp = { from: ALICE, id: 'wamid.X', type: 'text', text: { body: 'x' } };
      const result = parsed(inbound(
        noTimestamp,
        { ...textMessage(ALICE, 'wamid.X', 'x'), timestamp: 'yesterday' },
        { ...textMessage(ALICE, 'wamid.X', 'x'), timestamp: '1234567890123' },
        { ...textMessage(ALICE, 'wamid.X', 'x'), timestamp: -1 },
        { from: ALICE, id: 'wamid.X', timestamp: '1741608000', type: 'hologram' },
        { from: ALICE, id: 'wamid.X', timestamp: '1741608000', type: 'text' },
        { from: ALICE, id: 'wamid.X', timestamp: '1741608000', type: 'button' },
        textMessage(ALICE, 'wamid.OK', 'x'),
      ));
      expect(result.messages.map((m) => m.id)).to.deep.equal(['wamid.OK']);
      expect(result.rejected.map((r) => `${r.where} ${r.kind} ${r.code} ${r.reason}`)).to.deep.equal([
        `${at}.messages[0] message missing-field timestamp: missing`,
        `${at}.messages[1] message invalid-timestamp timestamp: not seconds since the epoch`,
        `${at}.messages[2] message invalid-timestamp timestamp: not seconds since the epoch`,
        `${at}.messages[3] message invalid-timestamp timestamp: not seconds since the epoch`,
        `${at}.messages[4] message unknown-type type: not a WhatsApp message type`,
        `${at}.messages[5] message missing-field text: missing`,
        `${at}.messages[6] message missing-field button: missing`,
      ]);
      expect(result.rejected[0]?.phoneNumberId).to.equal(PHONE_NUMBER_ID);
      expect(result.digest).to.match(/^[0-9a-f]{64}$/);
      expect(parsed(inbound(textMessage(ALICE, 'wamid.OK', 'x'))).digest).to.equal('');
    });

    it('a change without metadata, a status without an id, a preference without a number', () => {
      const body = envelope(entry(
        { field: 'messages', value: { messages: [textMessage(ALICE, 'wamid.X', 'x')] } },
        messagesChange({ statuses: [{ status: 'read', timestamp: '1741608000' }, status('wamid.O1', 'read', ALICE)] }),
        { field: 'user_preferences', value: { metadata: { phone_number_id: '1' } } },
        userPreferencesChange('123', 'stop'),
        { field: 'user_preferences', value: { metadata: { phone_number_id: '1' }, user_preferences: [{ category: 'marketing_messages', value: 'stop', timestamp: 1 }] } },
      ));
      const result = parsed(body);
      expect(result.statuses).to.have.length(1);
      expect(reasons(body)).to.deep.equal([
        'entry[0].changes[0].value missing-field metadata: missing',
        'entry[0].changes[1].value.statuses[0] missing-field id: missing',
        'entry[0].changes[2].value missing-field user_preferences: missing',
        'entry[0].changes[3].value.user_preferences[0] invalid-phone wa_id: not a valid phone number (a wa_id is 4 to 15 digits without +)',
        'entry[0].changes[4].value.user_preferences[0] missing-field wa_id: missing (and no user_id)',
      ]);
      expect(result.rejected[0]?.kind).to.equal('change');
    });

    it('a message without any sender id', () => {
      const body = envelope(entry(messagesChange({ contacts: [], messages: [textMessage('', 'wamid.X', 'x')] })));
      expect(reasons(body)).to.deep.equal([`${at}.messages[0] missing-field from: missing (and no user id identifies the sender)`]);
    });

    it('an invalid phone number in from, without echoing it', () => {
      const body = inbound(textMessage(ALICE, 'wamid.ok', 'x'), textMessage('491511234567', 'wamid.X', 'x'), textMessage('+4915112345678', 'wamid.Y', 'x'), textMessage('00491511234567', 'wamid.Z', 'x'));
      expect(parsed(body).messages.map((m) => m.id)).to.deep.equal(['wamid.ok']);
      expect(reasons(body)).to.deep.equal([
        `${at}.messages[1] invalid-phone from: not a valid phone number (no such number in the numbering plan of +49)`,
        `${at}.messages[2] invalid-phone from: not a valid phone number (a wa_id is 4 to 15 digits without +)`,
        `${at}.messages[3] invalid-phone from: not a valid phone number (no country code (write it with + or 00, or give a default country))`,
      ]);
    });

    it('ids, texts and other fields longer than the platform sends', () => {
      const body = envelope(entry(messagesChange({
        contacts: [contact(ALICE, 'n'.repeat(1025))],
        messages: [
          textMessage(ALICE, `wamid.${'A'.repeat(251)}`, 'x'),
          textMessage(ALICE, 'wamid.T', 't'.repeat(4097)),
          buttonReply(ALICE, 'wamid.B', 'b'.repeat(257), 'Ja'),
          { ...textMessage(ALICE, 'wamid.C', 'x'), from_user_id: 'U'.repeat(161) },
          { ...textMessage(ALICE, 'wamid.D', 'x'), from_user_id: 'DE.a|b' },
          textMessage('4'.repeat(33), 'wamid.E', 'x'),
          textMessage(ALICE, `wamid.${'A'.repeat(250)}`, 't'.repeat(4096)),
        ],
        statuses: [status('wamid.O', 'sent', ALICE, { biz_opaque_callback_data: 'c'.repeat(513) })],
      })));
      expect(parsed(body).messages.map((m) => m.id.length)).to.deep.equal([256]);
      expect(reasons(body)).to.deep.equal([
        `${at}.contacts[0] too-long profile.name: longer than 1024 characters`,
        `${at}.messages[0] too-long id: longer than 256 characters`,
        `${at}.messages[1] too-long text.body: longer than 4096 characters`,
        `${at}.messages[2] too-long interactive.button_reply.id: longer than 256 characters`,
        `${at}.messages[3] too-long from_user_id: longer than 160 characters`,
        `${at}.messages[4] invalid-field from_user_id: wrong format`,
        `${at}.messages[5] too-long from: longer than 32 characters`,
        `${at}.statuses[0] too-long biz_opaque_callback_data: longer than 512 characters`,
      ]);
    });

    it('two senders may use the same message id: both are read', () => {
      const body = envelope(entry(messagesChange({ contacts: [contact(ALICE), contact(BOB)], messages: [textMessage(ALICE, 'wamid.SAME', 'a'), textMessage(BOB, 'wamid.SAME', 'b')] })));
      expect(parsed(body).messages.map((m) => [m.id, m.from])).to.deep.equal([['wamid.SAME', ALICE], ['wamid.SAME', BOB]]);
    });

    it('a status recipient is read as E.164 by its shape alone (it only finds the statuses naming a person)', () => {
      const recipients = ['4900000', '0049151', '49151x', '1234567890123456'];
      const result = parsed(envelope(entry(messagesChange({ statuses: recipients.map((r, i) => status(`wamid.R${i}`, 'sent', r)) }))));
      expect(result.rejected).to.deep.equal([]);
      expect(result.statuses.map((s) => s.recipientPhone)).to.deep.equal(['+4900000', undefined, undefined, undefined]);
    });

    it('a status without a valid recipient is kept, without recipientPhone', () => {
      const result = parsed(envelope(entry(messagesChange({ statuses: [status('wamid.O1', 'sent', '', { recipient_user_id: 'DE.9' })] }))));
      expect(result.statuses[0]).to.include({ recipientUserId: 'DE.9' }).and.not.to.have.property('recipientPhone');
    });

    it('no reason quotes the body', () => {
      const secret = '4917621194288';
      const body = envelope(entry(messagesChange({ contacts: [{ wa_id: Number(secret) }], messages: [
        { from: secret, id: secret, timestamp: secret + secret, type: secret, text: { body: secret } },
        { from: `${secret}${secret}${secret}`, id: 'x', timestamp: '1', type: 'text', text: { body: secret } },
      ] })));
      const result = parsed(body);
      expect(result.rejected).to.have.length(3);
      expect(JSON.stringify(result.rejected)).not.to.include(secret);
    });
  });

  describe('number changes (system messages user_changed_number and user_changed_user_id)', () => {
    const at = 'entry[0].changes[0].value';
    const NEW = '4915187654321';
    const OLD_USER = 'DE.11AbC';
    const NEW_USER = 'DE.22dEf';
    /** As Meta's system messages reference shows it: no contacts, from the old number. */
    const numberChange = (system: Json = {}, extra: Json = {}): Json => ({
      from: ALICE, id: 'wamid.SYS1', timestamp: '1741608000', type: 'system',
      system: { body: `User Ada changed from ${ALICE} to ${NEW}`, wa_id: NEW, type: 'user_changed_number', user_id: NEW_USER, previous_user_id: OLD_USER, ...system },
      ...extra,
    });
    /** No number can be shared: only the user ids, no from. */
    const userIdChange = (system: Json = {}): Json => ({
      id: 'wamid.SYS2', timestamp: '1741608000', type: 'system',
      system: { body: `User Ada changed from ${OLD_USER} to ${NEW_USER}`, type: 'user_changed_user_id', user_id: NEW_USER, previous_user_id: OLD_USER, ...system },
    });
    const system = (...messages: Json[]) => envelope(entry(messagesChange({ messages })));
    const reasons = (body: unknown) => parsed(body).rejected.map((r) => `${r.where} ${r.kind} ${r.code} ${r.reason}`);

    it('reads user_changed_number as a change of number and user id, not as a message', () => {
      const result = parsed(system(numberChange()));
      expect(result.messages).to.deep.equal([]);
      expect(result.rejected).to.deep.equal([]);
      expect(result.identityChanges).to.deep.equal([{
        type: 'identity_change', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, change: 'user_changed_number', id: 'wamid.SYS1',
        timestamp: new Date(1741608000 * 1000),
        previous: { waId: ALICE, phone: '+4915112345678', userId: OLD_USER },
        current: { waId: NEW, phone: '+4915187654321', userId: NEW_USER },
      }]);
    });

    it('reads user_changed_number without the user ids (as before Meta added them)', () => {
      const change = numberChange();
      const { user_id: _u, previous_user_id: _p, ...withoutIds } = change.system as Json;
      const [read] = parsed(system({ ...change, system: withoutIds })).identityChanges;
      expect(read?.previous).to.deep.equal({ waId: ALICE, phone: '+4915112345678' });
      expect(read?.current).to.deep.equal({ waId: NEW, phone: '+4915187654321' });
    });

    it('reads user_changed_user_id, which names no number, as a change of user id', () => {
      const result = parsed(system(userIdChange()));
      expect(result.messages).to.deep.equal([]);
      expect(result.rejected).to.deep.equal([]);
      expect(result.identityChanges).to.deep.equal([{
        type: 'identity_change', wabaId: WABA_ID, phoneNumberId: PHONE_NUMBER_ID, change: 'user_changed_user_id', id: 'wamid.SYS2',
        timestamp: new Date(1741608000 * 1000), previous: { userId: OLD_USER }, current: { userId: NEW_USER },
      }]);
    });

    it('reads other system messages as before: a message of kind other', () => {
      const other = { from: ALICE, id: 'wamid.SYS3', timestamp: '1741608000', type: 'system', system: { body: 'x', type: 'customer_identity_changed' } };
      const result = parsed(inbound(other));
      expect(result.identityChanges).to.deep.equal([]);
      expect(result.messages[0]).to.include({ id: 'wamid.SYS3', kind: 'other', messageType: 'system', phone: '+4915112345678' });
    });

    it('refuses a bad one alone, with the reason, and reads the rest of the batch', () => {
      const body = system(
        numberChange({ wa_id: undefined }),
        numberChange({}, { from: undefined }),
        numberChange({ wa_id: '491511234567' }),
        numberChange({}, { from: '+4915112345678' }),
        numberChange({ wa_id: ALICE }),
        userIdChange({ previous_user_id: undefined }),
        userIdChange({ user_id: '' }),
        userIdChange({ user_id: OLD_USER }),
        userIdChange({ user_id: 'DE.a|b' }),
        { ...userIdChange(), timestamp: 'yesterday' },
        numberChange(),
        textMessage(ALICE, 'wamid.T', 'Hallo'),
      );
      expect(reasons(body)).to.deep.equal([
        `${at}.messages[0] message missing-field system.wa_id: missing (the new number of a number change)`,
        `${at}.messages[1] message missing-field from: missing (the old number of a number change)`,
        `${at}.messages[2] message invalid-phone system.wa_id: not a valid phone number (no such number in the numbering plan of +49)`,
        `${at}.messages[3] message invalid-phone from: not a valid phone number (a wa_id is 4 to 15 digits without +)`,
        `${at}.messages[4] message invalid-field system.wa_id: the same number as from`,
        `${at}.messages[5] message missing-field system.previous_user_id: missing (the old user id of a user id change)`,
        `${at}.messages[6] message missing-field system.user_id: missing (the new user id of a user id change)`,
        `${at}.messages[7] message invalid-field system.user_id: the same as system.previous_user_id`,
        `${at}.messages[8] message invalid-field system.user_id: wrong format`,
        `${at}.messages[9] message invalid-timestamp timestamp: not seconds since the epoch`,
      ]);
      const result = parsed(body);
      expect(result.identityChanges.map((c) => c.id)).to.deep.equal(['wamid.SYS1']);
      expect(result.messages.map((m) => m.id)).to.deep.equal(['wamid.T']);
      expect(JSON.stringify(result.rejected), 'no reason quotes a number').not.to.include('1234567');
    });
  });
});
