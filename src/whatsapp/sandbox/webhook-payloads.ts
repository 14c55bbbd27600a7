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

/** A contact as a webhook names it: phone number (absent when a message went to the BSUID alone) and BSUID. */
export interface WebhookContact {
  wa_id?: string;
  user_id: string;
}

export interface InboundMessage {
  from: string;
  /** The sender's BSUID. */
  fromUserId: string;
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
  const base: Record<string, unknown> = { from: message.from, from_user_id: message.fromUserId, id: message.id, timestamp: String(message.timestampSeconds) };
  if (message.replyTo !== undefined) base.context = { from: identity.displayPhoneNumber, id: message.replyTo };
  const c = message.content;
  const typed =
    c.kind === 'text'
      ? { type: 'text', text: { body: c.text } }
      : c.kind === 'button'
        ? { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: c.id, title: c.title } } }
        : { type: 'button', button: { payload: c.payload, text: c.text } };
  return envelope(identity, {
    contacts: [{ profile: { name: message.profileName }, wa_id: message.from, user_id: message.fromUserId }],
    messages: [{ ...base, ...typed }],
  });
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
