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
  recipient_id: string;
  biz_opaque_callback_data?: string;
  pricing?: Pricing;
  errors?: { code: number; title: string; message: string; error_data: { details: string }; href: string }[];
}

export type InboundContent =
  | { kind: 'text'; text: string }
  | { kind: 'button'; id: string; title: string }
  | { kind: 'payload'; payload: string; text: string };

export interface InboundMessage {
  from: string;
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

/** One POST with several statuses, as Meta batches them. */
export function statusesWebhook(identity: BusinessIdentity, statuses: readonly StatusUpdate[]): Record<string, unknown> {
  return envelope(identity, { statuses });
}

/** A contact's message, as a Meta `messages` webhook. */
export function inboundWebhook(identity: BusinessIdentity, message: InboundMessage): Record<string, unknown> {
  const base: Record<string, unknown> = { from: message.from, id: message.id, timestamp: String(message.timestampSeconds) };
  if (message.replyTo !== undefined) base.context = { from: identity.displayPhoneNumber, id: message.replyTo };
  const c = message.content;
  const typed =
    c.kind === 'text'
      ? { type: 'text', text: { body: c.text } }
      : c.kind === 'button'
        ? { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: c.id, title: c.title } } }
        : { type: 'button', button: { payload: c.payload, text: c.text } };
  return envelope(identity, {
    contacts: [{ profile: { name: message.profileName }, wa_id: message.from }],
    messages: [{ ...base, ...typed }],
  });
}
