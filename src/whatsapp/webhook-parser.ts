import type { z } from 'zod';
import type { ConversationMessage, InboundKind } from '../domain/conversation.js';
import { fromWaId, type E164 } from '../domain/phone.js';
import {
  envelopeSchema, messagesValueSchema, userPreferencesValueSchema,
  type RawContact, type RawMessage, type RawStatus,
} from './webhook-schema.js';

/** Where in the payload an event came from. */
interface Origin {
  /** `entry[].id`: the WhatsApp Business Account id. */
  readonly wabaId: string;
  /** `value.metadata.phone_number_id`: the business number the event concerns. */
  readonly phoneNumberId: string;
}

/** An inbound message from a contact. Fits the conversation's `ConversationMessage`. */
export interface InboundMessageEvent extends ConversationMessage, Origin {
  readonly type: 'message';
  /** The contact's `wa_id` (digits, no `+`); empty when Meta only sent a business-scoped user id. */
  readonly from: string;
  /** `from` as validated E.164, when there is a `from`. */
  readonly phone?: E164;
  /** The business-scoped user id (BSUID), when present. */
  readonly userId?: string;
  readonly profileName?: string;
  readonly username?: string;
  /** Meta's message `type` as sent (`text`, `interactive`, `button`, `image`, ...). */
  readonly messageType: string;
  /** The message this one replies to (`context.id`). */
  readonly contextId?: string;
  /** For reactions: the message reacted to, and the emoji (empty when a reaction was removed). */
  readonly reactionTo?: string;
  readonly emoji?: string;
}

export const DELIVERY_STATUSES = ['sent', 'delivered', 'read', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookError {
  readonly code: number;
  readonly title?: string;
  readonly message?: string;
  readonly details?: string;
  readonly href?: string;
}

export interface StatusEvent extends Origin {
  readonly type: 'status';
  /** The `wamid` of our outbound message. */
  readonly id: string;
  readonly status: DeliveryStatus;
  readonly timestamp: Date;
  /** `recipient_id` as sent (a wa_id), may be missing once usernames arrive. */
  readonly recipientId?: string;
  /** `recipient_id` as E.164 when it is a valid number. */
  readonly recipientPhone?: E164;
  readonly recipientUserId?: string;
  /** `biz_opaque_callback_data`: our delivery id. */
  readonly callbackData?: string;
  readonly pricing?: { readonly type?: string; readonly category?: string; readonly billable?: boolean; readonly pricingModel?: string };
  readonly errors?: readonly WebhookError[];
}

export interface UserPreferenceEvent extends Origin {
  readonly type: 'user_preference';
  readonly waId?: string;
  readonly phone?: E164;
  readonly userId?: string;
  /** `marketing_messages` today. */
  readonly category: string;
  /** `stop` or `resume` (other values are passed on as sent). */
  readonly value: string;
  readonly detail?: string;
  readonly timestamp: Date;
}

export type WebhookEvent = InboundMessageEvent | StatusEvent | UserPreferenceEvent;

export interface ParsedWebhook {
  readonly ok: true;
  readonly messages: readonly InboundMessageEvent[];
  readonly statuses: readonly StatusEvent[];
  readonly preferences: readonly UserPreferenceEvent[];
  /** Errors Meta reports in `value.errors` (e.g. an unsupported message type), for the log. */
  readonly errors: readonly (WebhookError & Origin)[];
  /** What was skipped, counted: change fields we do not handle, status values we do not know. */
  readonly ignored: { readonly fields: Readonly<Record<string, number>>; readonly statuses: Readonly<Record<string, number>> };
}

export type WebhookParseResult = ParsedWebhook | { readonly ok: false; readonly reason: string };

/** Parses the raw bytes of a webhook POST (after the signature check). */
export function parseWebhookBody(raw: Buffer | string): WebhookParseResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
  return parseWebhook(json);
}

class Rejected extends Error {}

function describe(prefix: string, error: z.ZodError): string {
  return error.issues.slice(0, 3).map((issue) => {
    const path = issue.path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`), prefix);
    return `${path || '(body)'}: ${issue.message}`;
  }).join('; ');
}

function check<T extends z.ZodType>(schema: T, value: unknown, prefix: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Rejected(describe(prefix, parsed.error));
  return parsed.data;
}

/**
 * Validates a parsed webhook body as a WhatsApp Business Account envelope and flattens every
 * entry, change, message, status and user preference into events, in payload order.
 * All or nothing: one malformed part, or one invalid phone number, rejects the whole body
 * with a reason naming the place (`entry[0].changes[1].value.messages[0].from: ...`), so the
 * HTTP layer can answer 400 and store nothing.
 */
export function parseWebhook(body: unknown): WebhookParseResult {
  const messages: InboundMessageEvent[] = [];
  const statuses: StatusEvent[] = [];
  const preferences: UserPreferenceEvent[] = [];
  const errors: (WebhookError & Origin)[] = [];
  const fields: Record<string, number> = {};
  const unknownStatuses: Record<string, number> = {};
  try {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Rejected('not a JSON object');
    const envelope = check(envelopeSchema, body, '');
    envelope.entry.forEach((entry, e) => {
      entry.changes.forEach((change, c) => {
        const at = `entry[${e}].changes[${c}].value`;
        if (change.field === 'messages') {
          const value = check(messagesValueSchema, change.value, at);
          const origin: Origin = { wabaId: entry.id, phoneNumberId: value.metadata.phone_number_id };
          const contacts = indexContacts(value.contacts ?? []);
          value.messages?.forEach((raw, m) => messages.push(toMessage(raw, contacts, origin, `${at}.messages[${m}]`)));
          value.statuses?.forEach((raw) => {
            const status = toStatus(raw, origin);
            if (status) statuses.push(status);
            else unknownStatuses[raw.status] = (unknownStatuses[raw.status] ?? 0) + 1;
          });
          value.errors?.forEach((raw) => errors.push({ ...toError(raw), ...origin }));
        } else if (change.field === 'user_preferences') {
          const value = check(userPreferencesValueSchema, change.value, at);
          const origin: Origin = { wabaId: entry.id, phoneNumberId: value.metadata.phone_number_id };
          value.user_preferences.forEach((raw, p) => {
            const waId = raw.wa_id === '' ? undefined : raw.wa_id;
            const phone = waId === undefined ? undefined : validPhone(waId, `${at}.user_preferences[${p}].wa_id`);
            const userId = raw.user_id || undefined;
            if (!waId && !userId) throw new Rejected(`${at}.user_preferences[${p}]: neither wa_id nor user_id`);
            preferences.push(prune({
              type: 'user_preference' as const, ...origin, waId, phone, userId,
              category: raw.category, value: raw.value, detail: raw.detail, timestamp: raw.timestamp,
            }));
          });
        } else {
          fields[change.field] = (fields[change.field] ?? 0) + 1;
        }
      });
    });
  } catch (err) {
    if (err instanceof Rejected) return { ok: false, reason: err.message };
    throw err;
  }
  return { ok: true, messages, statuses, preferences, errors, ignored: { fields, statuses: unknownStatuses } };
}

function validPhone(waId: string, where: string): E164 {
  const parsed = fromWaId(waId);
  if (!parsed.ok) throw new Rejected(`${where}: ${parsed.reason}`);
  return parsed.e164;
}

function kindOf(raw: RawMessage): { kind: InboundKind; text?: string; buttonId?: string; buttonTitle?: string; payload?: string } {
  switch (raw.type) {
    case 'text':
      return { kind: 'text', text: raw.text?.body ?? '' };
    case 'interactive': {
      const reply = raw.interactive?.button_reply ?? raw.interactive?.list_reply;
      return reply ? { kind: 'button_reply', buttonId: reply.id, buttonTitle: reply.title } : { kind: 'other' };
    }
    case 'button':
      return { kind: 'quick_reply', payload: raw.button?.payload, text: raw.button?.text, buttonTitle: raw.button?.text };
    case 'reaction':
      return { kind: 'reaction' };
    default:
      return { kind: 'other' };
  }
}

interface ContactIndex {
  readonly byWaId: ReadonlyMap<string, RawContact>;
  readonly byUserId: ReadonlyMap<string, RawContact>;
  /** The contact when the change names exactly one. */
  readonly only: RawContact | undefined;
}

/** Batches carry up to 1,000 messages with their contacts: look senders up by key, not by scanning. */
function indexContacts(contacts: readonly RawContact[]): ContactIndex {
  const byWaId = new Map<string, RawContact>();
  const byUserId = new Map<string, RawContact>();
  for (const c of contacts) {
    if (c.wa_id) byWaId.set(c.wa_id, c);
    if (c.user_id) byUserId.set(c.user_id, c);
  }
  return { byWaId, byUserId, only: contacts.length === 1 ? contacts[0] : undefined };
}

function toMessage(raw: RawMessage, contacts: ContactIndex, origin: Origin, where: string): InboundMessageEvent {
  const from = raw.from ?? '';
  const contact =
    (from !== '' ? contacts.byWaId.get(from) : undefined) ??
    (raw.from_user_id ? contacts.byUserId.get(raw.from_user_id) : undefined) ??
    contacts.only;
  const userId = raw.from_user_id || contact?.user_id || undefined;
  if (from === '' && userId === undefined) throw new Rejected(`${where}: neither from nor a user_id identifies the sender`);
  const phone = from === '' ? undefined : validPhone(from, `${where}.from`);
  return prune({
    type: 'message' as const, ...origin, id: raw.id, from, phone, userId,
    profileName: contact?.profile?.name, username: contact?.profile?.username,
    timestamp: raw.timestamp, messageType: raw.type, ...kindOf(raw),
    contextId: raw.context?.id,
    reactionTo: raw.type === 'reaction' ? raw.reaction?.message_id : undefined,
    emoji: raw.type === 'reaction' ? raw.reaction?.emoji ?? '' : undefined,
  });
}

function toError(raw: NonNullable<RawStatus['errors']>[number]): WebhookError {
  return prune({ code: raw.code, title: raw.title, message: raw.message, details: raw.error_data?.details, href: raw.href });
}

function toStatus(raw: RawStatus, origin: Origin): StatusEvent | undefined {
  if (!(DELIVERY_STATUSES as readonly string[]).includes(raw.status)) return undefined;
  const recipientId = raw.recipient_id || undefined;
  const phone = recipientId === undefined ? undefined : fromWaId(recipientId);
  return prune({
    type: 'status' as const, ...origin, id: raw.id, status: raw.status as DeliveryStatus, timestamp: raw.timestamp,
    recipientId, recipientPhone: phone?.ok ? phone.e164 : undefined, recipientUserId: raw.recipient_user_id || undefined,
    callbackData: raw.biz_opaque_callback_data,
    pricing: raw.pricing && prune({ type: raw.pricing.type, category: raw.pricing.category, billable: raw.pricing.billable, pricingModel: raw.pricing.pricing_model }),
    errors: raw.errors?.map(toError),
  });
}

/** Drops keys whose value is undefined, so events compare and store cleanly. */
function prune<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
