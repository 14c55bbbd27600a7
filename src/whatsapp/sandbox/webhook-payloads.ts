import type { Pricing } from './sandbox-state.js';

/** Who the sandbox is, as the `metadata` and `entry[].id` of its webhooks show it. */
export interface BusinessIdentity {
  wabaId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
}

export interface StatusUpdate {
  id: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  timestamp: string;
  /** The phone number: absent for a message sent to a BSUID. */
  recipient_id?: string;
  /** The BSUID: absent on a `failed` status of a message sent to the phone number. */
  recipient_user_id?: string;
  biz_opaque_callback_data?: string;
  pricing?: Pricing;
  errors?: { code: number; title: string; message: string; error_data: { details: string }; href: string }[];
}

export type InboundContent =
  | { kind: 'text'; text: string }
  | { kind: 'button'; id: string; title: string }
  | { kind: 'payload'; payload: string; text: string };

/**
 * A contact as a webhook names it: phone number (absent when a message went to the BSUID alone or
 * the person has a username and did not share the number), BSUID, and the username of a person
 * who has one (in delivered and read statuses).
 */
export interface WebhookContact {
  wa_id?: string;
  user_id: string;
  profile?: { username: string };
}

export interface InboundMessage {
  /** The sender's number; absent for a person with a username who has not shared it. */
  from?: string;
  /** The sender's BSUID. */
  fromUserId: string;
  /** The sender's username, when they have one. */
  username?: string;
  id: string;
  timestampSeconds: number;
  profileName: string;
  content: InboundContent;
  /** `wamid` of the business message this one answers (button replies). */
  replyTo?: string;
}

function envelope(identity: BusinessIdentity, value: Record<string, unknown>): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: identity.wabaId,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: identity.displayPhoneNumber, phone_number_id: identity.phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

/**
 * A POST with statuses (one, as the platform sends them, or several when batching is on), with
 * `contacts` naming the recipients of its sent, delivered and read statuses (a failed status has
 * none, as on the platform).
 */
export function statusesWebhook(identity: BusinessIdentity, statuses: readonly StatusUpdate[], contacts: readonly WebhookContact[]): Record<string, unknown> {
  return envelope(identity, contacts.length > 0 ? { contacts, statuses } : { statuses });
}

/** A contact's message, as a Meta `messages` webhook. */
export function inboundWebhook(identity: BusinessIdentity, message: InboundMessage): Record<string, unknown> {
  const from = message.from === undefined ? {} : { from: message.from };
  const base: Record<string, unknown> = { ...from, from_user_id: message.fromUserId, id: message.id, timestamp: String(message.timestampSeconds) };
  if (message.replyTo !== undefined) base.context = { from: identity.displayPhoneNumber, id: message.replyTo };
  const c = message.content;
  const typed =
    c.kind === 'text'
      ? { type: 'text', text: { body: c.text } }
      : c.kind === 'button'
        ? { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: c.id, title: c.title } } }
        : { type: 'button', button: { payload: c.payload, text: c.text } };
  return envelope(identity, {
    contacts: [{
      profile: { name: message.profileName, ...(message.username === undefined ? {} : { username: message.username }) },
      ...(message.from === undefined ? {} : { wa_id: message.from }),
      user_id: message.fromUserId,
    }],
    messages: [{ ...base, ...typed }],
  });
}

/** A person's change of number, as the platform reports it to the business. */
export interface NumberChangeMessage {
  id: string;
  timestampSeconds: number;
  profileName: string;
  previousUserId: string;
  userId: string;
  /** The old and new numbers; absent for a person with a username who has not shared them. */
  numbers?: { previous: string; current: string };
}

/**
 * A `system` message about a number change (Meta's "System messages webhook reference"; no
 * `contacts`). With the numbers shared: `user_changed_number` from the old number, naming the new
 * one in `system.wa_id`. Without (a username): `user_changed_user_id`, no number anywhere. Both
 * carry the new BSUID in `system.user_id` and the old one in `system.previous_user_id` (Meta's
 * changelog, 2026-08-11: a number change gives a new BSUID and reports the previous one). Meta
 * shows no `user_changed_user_id` example: its `body` here is the sandbox's guess.
 */
export function numberChangeWebhook(identity: BusinessIdentity, change: NumberChangeMessage): Record<string, unknown> {
  const { numbers } = change;
  const ids = { user_id: change.userId, previous_user_id: change.previousUserId };
  const message = numbers
    ? {
      from: numbers.previous, id: change.id, timestamp: String(change.timestampSeconds), type: 'system',
      system: { body: `User ${change.profileName} changed from ${numbers.previous} to ${numbers.current}`, wa_id: numbers.current, type: 'user_changed_number', ...ids },
    }
    : {
      id: change.id, timestamp: String(change.timestampSeconds), type: 'system',
      system: { body: `User ${change.profileName} changed from ${change.previousUserId} to ${change.userId}`, type: 'user_changed_user_id', ...ids },
    };
  return envelope(identity, { messages: [message] });
}

/**
 * JSON as the platform writes its webhook bodies: every character beyond ASCII as a `\u00fc`
 * escape (lowercase hex; an emoji as its two UTF-16 surrogates, `\ud83d\udc4b`), so the bytes
 * signed and sent are ASCII. A receiver must check the signature over these exact bytes: one that
 * hashes the parsed text written back as UTF-8 gets another hash.
 */
export function metaJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
