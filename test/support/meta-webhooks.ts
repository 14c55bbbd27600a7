import { SANDBOX_CREDENTIALS } from '../../config/index.js';

/**
 * Webhook bodies in Meta's WhatsApp Cloud API format (field names and nesting as documented
 * by Meta), built from small parts so tests can combine several entries and changes.
 */
export const WABA_ID = '102290129340398';
/** The business number the events are for: the worker's default, so a default worker handles them. */
export const PHONE_NUMBER_ID: string = SANDBOX_CREDENTIALS.phoneNumberId;
/** Another business number (of the same account, or someone else's): its events are not ours. */
export const OTHER_PHONE_NUMBER_ID = '106540352242922';
const METADATA = { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID };

export type Json = Record<string, unknown>;

export function envelope(...entries: Json[]): Json {
  return { object: 'whatsapp_business_account', entry: entries };
}

export function entry(...changes: Json[]): Json {
  return { id: WABA_ID, changes };
}

/** A `messages` change carrying inbound messages (with their contacts) and/or statuses. */
export function messagesChange(parts: { contacts?: Json[]; messages?: Json[]; statuses?: Json[]; errors?: Json[] }, phoneNumberId = PHONE_NUMBER_ID): Json {
  return { field: 'messages', value: { messaging_product: 'whatsapp', metadata: { ...METADATA, phone_number_id: phoneNumberId }, ...parts } };
}

export function contact(waId: string, name = 'Sheena Nelson', extra: Json = {}): Json {
  return { profile: { name }, wa_id: waId, ...extra };
}

export function textMessage(from: string, id: string, body: string, timestamp = '1741608000'): Json {
  return { from, id, timestamp, type: 'text', text: { body } };
}

export function buttonReply(from: string, id: string, buttonId: string, title: string, contextId = 'wamid.OUT1'): Json {
  return {
    context: { from: '15550783881', id: contextId },
    from, id, timestamp: '1741608060', type: 'interactive',
    interactive: { type: 'button_reply', button_reply: { id: buttonId, title } },
  };
}

export function quickReply(from: string, id: string, payload: string, text: string): Json {
  return { context: { from: '15550783881', id: 'wamid.TPL1' }, from, id, timestamp: '1741608120', type: 'button', button: { payload, text } };
}

export function reaction(from: string, id: string, messageId: string, emoji: string): Json {
  return { from, id, timestamp: '1741608180', type: 'reaction', reaction: { message_id: messageId, emoji } };
}

export function status(id: string, value: string, recipient: string, extra: Json = {}): Json {
  return { id, status: value, timestamp: '1741608240', recipient_id: recipient, ...extra };
}

export function userPreferencesChange(waId: string, value: 'stop' | 'resume', timestamp = 1741608300): Json {
  return {
    field: 'user_preferences',
    value: {
      messaging_product: 'whatsapp',
      metadata: METADATA,
      contacts: [{ wa_id: waId }],
      user_preferences: [{
        wa_id: waId, category: 'marketing_messages', value, timestamp,
        detail: value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages',
      }],
    },
  };
}
