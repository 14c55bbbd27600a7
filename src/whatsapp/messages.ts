import { isBsuid } from '../domain/contact-id.js';

/**
 * The messages the worker sends, as plain data, and their Cloud API request bodies.
 * Every message carries `callbackData` (sent as `biz_opaque_callback_data`) so that status
 * webhooks can be tied to the delivery record even without the `wamid`.
 */
interface MessageBase {
  /**
   * The recipient: a phone number (E.164 with or without `+`) or WhatsApp id, sent as `to`; or
   * a business-scoped user id (`49.AbC…`, see `isBsuid`), sent as `recipient` (when the number
   * is not known; the platform may refuse some messages to a BSUID with 131062).
   */
  to: string;
  /** Echoed in every status webhook of this message; typically the delivery id. At most 512 chars. */
  callbackData: string;
  /** `wamid` of the message this one replies to (shown as a quote). */
  replyTo?: string;
}

export interface TextMessage extends MessageBase {
  type: 'text';
  body: string;
  previewUrl?: boolean;
}

export interface ReplyButton {
  /** Comes back as `interactive.button_reply.id` when tapped. At most 256 chars. */
  id: string;
  /** At most 20 chars. */
  title: string;
}

export interface ButtonsMessage extends MessageBase {
  type: 'buttons';
  body: string;
  /** One to three reply buttons. */
  buttons: readonly ReplyButton[];
  footer?: string;
}

export interface TemplateMessage extends MessageBase {
  type: 'template';
  name: string;
  /** Template language code: `de`, `en_US`, ... */
  language: string;
  /** Named (`{cases: '1234'}`) or positional (`['1234']`) body parameters. */
  bodyParams?: Readonly<Record<string, string>> | readonly string[];
  /** Payloads of the template's quick-reply buttons, in button order (index 0, 1, ...). */
  quickReplyPayloads?: readonly string[];
}

export type OutboundMessage = TextMessage | ButtonsMessage | TemplateMessage;

/** What the Cloud API answered on success. */
export interface SendResult {
  /** The message id (`wamid....`) status webhooks refer to. */
  wamid: string;
  /** The contact's WhatsApp id, when the API reported one. */
  waId?: string;
}

export const MAX_BUTTONS = 3;
export const MAX_BUTTON_TITLE = 20;
export const MAX_BUTTON_ID = 256;
export const MAX_TEXT_BODY = 4096;
export const MAX_INTERACTIVE_BODY = 1024;
export const MAX_CALLBACK_DATA = 512;

/**
 * Why the message cannot be sent as it is, or undefined when it can. Checked before any
 * request, so a mistake in our own code never costs a call (or a paid template).
 */
export function messageProblem(message: OutboundMessage): string | undefined {
  if (!isBsuid(message.to) && !/\d{5,}/.test(message.to.replace(/\D/g, ''))) return 'to: neither a phone number nor a business-scoped user id';
  if (message.callbackData.length === 0 || message.callbackData.length > MAX_CALLBACK_DATA) return `callbackData: must have 1 to ${MAX_CALLBACK_DATA} characters`;
  switch (message.type) {
    case 'text':
      if (message.body.length === 0 || message.body.length > MAX_TEXT_BODY) return `body: must have 1 to ${MAX_TEXT_BODY} characters`;
      return undefined;
    case 'buttons': {
      if (message.body.length === 0 || message.body.length > MAX_INTERACTIVE_BODY) return `body: must have 1 to ${MAX_INTERACTIVE_BODY} characters`;
      if (message.buttons.length < 1 || message.buttons.length > MAX_BUTTONS) return `buttons: must have 1 to ${MAX_BUTTONS} buttons, got ${message.buttons.length}`;
      const ids = new Set<string>();
      for (const [i, b] of message.buttons.entries()) {
        if (b.title.length === 0 || b.title.length > MAX_BUTTON_TITLE) return `buttons[${i}].title: must have 1 to ${MAX_BUTTON_TITLE} characters`;
        if (b.id.length === 0 || b.id.length > MAX_BUTTON_ID) return `buttons[${i}].id: must have 1 to ${MAX_BUTTON_ID} characters`;
        if (ids.has(b.id)) return `buttons[${i}].id: duplicate id`;
        ids.add(b.id);
      }
      return undefined;
    }
    case 'template':
      if (message.name.length === 0) return 'name: required';
      if (message.language.length === 0) return 'language: required';
      return undefined;
  }
}

/** The JSON body of `POST /{version}/{phone_number_id}/messages` for a message. */
export function toCloudApiBody(message: OutboundMessage): Record<string, unknown> {
  const base: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    ...(isBsuid(message.to) ? { recipient: message.to } : { to: message.to.replace(/^\+/, '') }),
  };
  if (message.replyTo !== undefined) base.context = { message_id: message.replyTo };
  switch (message.type) {
    case 'text':
      return { ...base, type: 'text', text: { preview_url: message.previewUrl ?? false, body: message.body }, biz_opaque_callback_data: message.callbackData };
    case 'buttons':
      return {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: message.body },
          ...(message.footer === undefined ? {} : { footer: { text: message.footer } }),
          action: { buttons: message.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
        },
        biz_opaque_callback_data: message.callbackData,
      };
    case 'template':
      return { ...base, type: 'template', template: templateObject(message), biz_opaque_callback_data: message.callbackData };
  }
}

function templateObject(message: TemplateMessage): Record<string, unknown> {
  const components: Record<string, unknown>[] = [];
  const params = message.bodyParams;
  if (params !== undefined) {
    const parameters = isPositional(params)
      ? params.map((text) => ({ type: 'text', text }))
      : Object.entries(params).map(([name, text]) => ({ type: 'text', parameter_name: name, text }));
    if (parameters.length > 0) components.push({ type: 'body', parameters });
  }
  for (const [index, payload] of (message.quickReplyPayloads ?? []).entries()) {
    components.push({ type: 'button', sub_type: 'quick_reply', index: String(index), parameters: [{ type: 'payload', payload }] });
  }
  return { name: message.name, language: { code: message.language }, ...(components.length > 0 ? { components } : {}) };
}

function isPositional(params: Readonly<Record<string, string>> | readonly string[]): params is readonly string[] {
  return Array.isArray(params);
}
