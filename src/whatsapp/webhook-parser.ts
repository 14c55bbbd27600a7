import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ConversationMessage, InboundKind } from '../domain/conversation.js';
import type { E164 } from '../domain/phone.js';
import { jsonSyntaxError } from './json-syntax.js';
import { fastContact, fastEnvelope, fastMessagesValue, fastStatus } from './webhook-fast-path.js';
import {
  checkWaId, contactSchema, describeIssue, envelopeSchema, firstProblem, identityChangeSchema, isIdentityChange, messageSchema, messagesValueSchema,
  statusErrorSchema, statusSchema, userPreferenceSchema, userPreferencesValueSchema,
  type IdentityChangeType, type Problem, type RawContact, type RawIdentityChange, type RawMessage, type RawStatus,
} from './webhook-schema.js';

export type { IdentityChangeType, RejectionCode } from './webhook-schema.js';

/** Where in the payload an event came from. */
interface Origin {
  /** `entry[].id`: the WhatsApp Business Account id. */
  readonly wabaId: string;
  /** `value.metadata.phone_number_id`: the business number the event concerns. */
  readonly phoneNumberId: string;
}

/** Set when the event's own time was not believed (see WebhookIngest). */
interface Anomaly {
  /** `timestamp-in-future`: later than the receive time plus the allowed skew; `timestamp` is then the receive time. */
  readonly anomaly?: 'timestamp-in-future';
  /** The timestamp the webhook claimed. */
  readonly claimedTimestamp?: Date;
}

/** An inbound message from a contact. Fits the conversation's `ConversationMessage`. */
export interface InboundMessageEvent extends ConversationMessage, Origin, Anomaly {
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
  /** `recipient_id` as E.164 when it has a number's shape (not checked against the numbering plan: it only finds statuses). */
  readonly recipientPhone?: E164;
  readonly recipientUserId?: string;
  /** `biz_opaque_callback_data`: our delivery id. */
  readonly callbackData?: string;
  readonly pricing?: { readonly type?: string; readonly category?: string; readonly billable?: boolean; readonly pricingModel?: string };
  readonly errors?: readonly WebhookError[];
}

export interface UserPreferenceEvent extends Origin, Anomaly {
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

/** How a webhook names a person: the number (as sent, and as E.164) and the business-scoped user id, each when given. */
export interface PersonIds {
  readonly waId?: string;
  readonly phone?: E164;
  readonly userId?: string;
}

/**
 * A person's number or business-scoped user id changed (a `system` message of type
 * `user_changed_number` or `user_changed_user_id`): not a message from them, it opens no window.
 */
export interface IdentityChangeEvent extends Origin {
  readonly type: 'identity_change';
  readonly change: IdentityChangeType;
  /** The system message's id: the change is applied once per id. */
  readonly id: string;
  readonly timestamp: Date;
  /** The old number (`from`; for `user_changed_number` only) and the previous user id. */
  readonly previous: PersonIds;
  /** The new number (`system.wa_id`; for `user_changed_number` only) and the new user id. */
  readonly current: PersonIds;
}

export type WebhookEvent = InboundMessageEvent | StatusEvent | UserPreferenceEvent | IdentityChangeEvent;

/** A part of a batch refused on its own: where it is and why, never what it says. */
export interface RejectedPart extends Problem {
  readonly kind: 'change' | 'contact' | 'message' | 'status' | 'error' | 'user_preference';
  /** `entry[0].changes[1].value.messages[3]` */
  readonly where: string;
  /** The business number of its change, when that could be read. */
  readonly phoneNumberId?: string;
}

export interface ParsedWebhook {
  readonly ok: true;
  readonly messages: readonly InboundMessageEvent[];
  readonly statuses: readonly StatusEvent[];
  readonly preferences: readonly UserPreferenceEvent[];
  /** Number and user id changes (`system` messages), apart from the messages. */
  readonly identityChanges: readonly IdentityChangeEvent[];
  /** Errors Meta reports in `value.errors` (e.g. an unsupported message type), for the log. */
  readonly errors: readonly (WebhookError & Origin)[];
  /** What was skipped, counted: change fields we do not handle, status values we do not know. */
  readonly ignored: { readonly fields: Readonly<Record<string, number>>; readonly statuses: Readonly<Record<string, number>> };
  /** Parts refused one by one, in payload order; the rest of the batch stands. */
  readonly rejected: readonly RejectedPart[];
  /** SHA-256 of the body when something was rejected (empty otherwise): a retried batch has the same. */
  readonly digest: string;
}

export type WebhookParseResult = ParsedWebhook | { readonly ok: false; readonly reason: string };

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Parses the raw bytes of a webhook POST (after the signature check). */
export function parseWebhookBody(raw: Buffer | string): WebhookParseResult {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the body: say where and what kind of error instead.
    const error = jsonSyntaxError(text);
    return { ok: false, reason: `malformed JSON: ${error.problem} at character ${error.offset}` };
  }
  return parseWebhook(json, () => sha256(raw));
}

/**
 * Validates a parsed webhook body and flattens every entry, change, message, status and user
 * preference into events, in payload order.
 *
 * A body that is not a WhatsApp Business Account envelope (`object`, `entry[].changes[].field`)
 * is refused whole, with a reason naming the place, so the HTTP layer answers 400. Inside a valid
 * envelope each change, contact, message, status and preference stands on its own: one that is
 * malformed, too long or has an invalid phone number is listed in `rejected` with where and why
 * (`entry[0].changes[1].value.messages[3]`, `from: not a valid phone number (too long)`), and the
 * rest of the batch is read.
 */
export function parseWebhook(body: unknown, digestOf: () => string = () => sha256(JSON.stringify(body))): WebhookParseResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, reason: 'not a JSON object' };
  let entries = fastEnvelope(body)?.entry;
  if (entries === undefined) {
    const envelope = envelopeSchema.safeParse(body, { reportInput: true });
    if (!envelope.success) return { ok: false, reason: envelope.error.issues.slice(0, 3).map((issue) => describeIssue(issue).reason).join('; ') };
    entries = envelope.data.entry;
  }

  const out = new Batch();
  entries.forEach((entry, e) => {
    entry.changes.forEach((change, c) => {
      const at = `entry[${e}].changes[${c}].value`;
      if (change.field === 'messages') out.readMessagesChange(change.value, entry.id, at);
      else if (change.field === 'user_preferences') out.readPreferencesChange(change.value, entry.id, at);
      else out.fields[change.field] = (out.fields[change.field] ?? 0) + 1;
    });
  });
  return {
    ok: true,
    messages: out.messages,
    statuses: out.statuses,
    preferences: out.preferences,
    identityChanges: out.identityChanges,
    errors: out.errors,
    ignored: { fields: out.fields, statuses: out.unknownStatuses },
    rejected: out.rejected,
    digest: out.rejected.length > 0 ? digestOf() : '',
  };
}

/** The events of one body, gathered change by change. */
class Batch {
  readonly messages: InboundMessageEvent[] = [];
  readonly statuses: StatusEvent[] = [];
  readonly preferences: UserPreferenceEvent[] = [];
  readonly identityChanges: IdentityChangeEvent[] = [];
  readonly errors: (WebhookError & Origin)[] = [];
  readonly rejected: RejectedPart[] = [];
  readonly fields: Record<string, number> = {};
  readonly unknownStatuses: Record<string, number> = {};

  /**
   * The item when it fits the schema; otherwise undefined, and the item is listed as rejected.
   * `fast` reads the common shapes without the schema (see webhook-fast-path.ts).
   */
  #item<T extends z.ZodType>(schema: T, raw: unknown, kind: RejectedPart['kind'], where: string, phoneNumberId?: string, fast?: (raw: unknown) => z.infer<T> | undefined): z.infer<T> | undefined {
    const quick = fast?.(raw);
    if (quick !== undefined) return quick;
    const parsed = schema.safeParse(raw, { reportInput: true });
    if (parsed.success) return parsed.data;
    this.#reject(kind, where, firstProblem(parsed.error), phoneNumberId);
    return undefined;
  }

  #reject(kind: RejectedPart['kind'], where: string, problem: Problem, phoneNumberId?: string): void {
    this.rejected.push({ kind, where, code: problem.code, reason: problem.reason, ...(phoneNumberId === undefined ? {} : { phoneNumberId }) });
  }

  readMessagesChange(raw: unknown, wabaId: string, at: string): void {
    const value = this.#item(messagesValueSchema, raw, 'change', at, undefined, fastMessagesValue);
    if (!value) return;
    const origin: Origin = { wabaId, phoneNumberId: value.metadata.phone_number_id };
    const contacts: RawContact[] = [];
    value.contacts?.forEach((item, i) => {
      const contact = this.#item(contactSchema, item, 'contact', `${at}.contacts[${i}]`, origin.phoneNumberId, fastContact);
      if (contact) contacts.push(contact);
    });
    const index = indexContacts(contacts, value.contacts?.length ?? 0);
    value.messages?.forEach((item, m) => {
      const where = `${at}.messages[${m}]`;
      const message = this.#item(messageSchema, item, 'message', where, origin.phoneNumberId);
      if (!message) return;
      if (isIdentityChange(message)) {
        const raw = this.#item(identityChangeSchema, item, 'message', where, origin.phoneNumberId);
        if (!raw) return;
        const change = toIdentityChange(raw, origin);
        if ('problem' in change) this.#reject('message', where, change.problem, origin.phoneNumberId);
        else this.identityChanges.push(change);
        return;
      }
      const event = toMessage(message, index, origin);
      if ('problem' in event) this.#reject('message', where, event.problem, origin.phoneNumberId);
      else this.messages.push(event);
    });
    value.statuses?.forEach((item, s) => {
      const raw = this.#item(statusSchema, item, 'status', `${at}.statuses[${s}]`, origin.phoneNumberId, fastStatus);
      if (!raw) return;
      const status = toStatus(raw, origin);
      if (status) this.statuses.push(status);
      else this.unknownStatuses[raw.status] = (this.unknownStatuses[raw.status] ?? 0) + 1;
    });
    value.errors?.forEach((item, i) => {
      const raw = this.#item(statusErrorSchema, item, 'error', `${at}.errors[${i}]`, origin.phoneNumberId);
      if (raw) this.errors.push({ ...toError(raw), ...origin });
    });
  }

  readPreferencesChange(raw: unknown, wabaId: string, at: string): void {
    const value = this.#item(userPreferencesValueSchema, raw, 'change', at);
    if (!value) return;
    const origin: Origin = { wabaId, phoneNumberId: value.metadata.phone_number_id };
    value.user_preferences.forEach((item, p) => {
      const where = `${at}.user_preferences[${p}]`;
      const pref = this.#item(userPreferenceSchema, item, 'user_preference', where, origin.phoneNumberId);
      if (!pref) return;
      const waId = pref.wa_id === '' ? undefined : pref.wa_id;
      const userId = pref.user_id || undefined;
      if (!waId && !userId) return this.#reject('user_preference', where, { code: 'missing-field', reason: 'wa_id: missing (and no user_id)' }, origin.phoneNumberId);
      let phone: E164 | undefined;
      if (waId !== undefined) {
        const checked = checkWaId(waId);
        if (!checked.ok) return this.#reject('user_preference', where, { code: 'invalid-phone', reason: `wa_id: ${checked.problem}` }, origin.phoneNumberId);
        phone = checked.e164;
      }
      this.preferences.push(prune({
        type: 'user_preference' as const, ...origin, waId, phone, userId,
        category: pref.category, value: pref.value, detail: pref.detail, timestamp: pref.timestamp,
      }));
    });
  }
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
function indexContacts(contacts: readonly RawContact[], listed: number): ContactIndex {
  const byWaId = new Map<string, RawContact>();
  const byUserId = new Map<string, RawContact>();
  for (const c of contacts) {
    if (c.wa_id) byWaId.set(c.wa_id, c);
    if (c.user_id) byUserId.set(c.user_id, c);
  }
  return { byWaId, byUserId, only: listed === 1 ? contacts[0] : undefined };
}

function toMessage(raw: RawMessage, contacts: ContactIndex, origin: Origin): InboundMessageEvent | { problem: Problem } {
  const from = raw.from ?? '';
  const contact =
    (from !== '' ? contacts.byWaId.get(from) : undefined) ??
    (raw.from_user_id ? contacts.byUserId.get(raw.from_user_id) : undefined) ??
    contacts.only;
  const userId = raw.from_user_id || contact?.user_id || undefined;
  if (from === '' && userId === undefined) return { problem: { code: 'missing-field', reason: 'from: missing (and no user id identifies the sender)' } };
  let phone: E164 | undefined;
  if (from !== '') {
    const checked = checkWaId(from);
    if (!checked.ok) return { problem: { code: 'invalid-phone', reason: `from: ${checked.problem}` } };
    phone = checked.e164;
  }
  return prune({
    type: 'message' as const, ...origin, id: raw.id, from, phone, userId,
    profileName: contact?.profile?.name, username: contact?.profile?.username,
    timestamp: raw.timestamp, messageType: raw.type, ...kindOf(raw),
    contextId: raw.context?.id,
    reactionTo: raw.type === 'reaction' ? raw.reaction?.message_id : undefined,
    emoji: raw.type === 'reaction' ? raw.reaction?.emoji ?? '' : undefined,
  });
}

/** A number given in a number change, checked like `from`; empty means absent. */
function numberAt(field: string, value: string | undefined): { ids: PersonIds } | { problem: Problem } {
  if (!value) return { ids: {} };
  const checked = checkWaId(value);
  return checked.ok ? { ids: { waId: value, phone: checked.e164 } } : { problem: { code: 'invalid-phone', reason: `${field}: ${checked.problem}` } };
}

/**
 * A number change as the event the worker applies. `user_changed_number` must name the old
 * number (`from`) and a different new one (`system.wa_id`); `user_changed_user_id` must name the
 * previous and a different new user id. The user ids of a `user_changed_number` are read when
 * present (Meta added them in 2026-08).
 */
function toIdentityChange(raw: RawIdentityChange, origin: Origin): IdentityChangeEvent | { problem: Problem } {
  const { system } = raw;
  const missing = (reason: string) => ({ problem: { code: 'missing-field' as const, reason } });
  const same = (reason: string) => ({ problem: { code: 'invalid-field' as const, reason } });
  const previousUserId = system.previous_user_id || undefined;
  const userId = system.user_id || undefined;
  if (system.type === 'user_changed_number') {
    if (!raw.from) return missing('from: missing (the old number of a number change)');
    if (!system.wa_id) return missing('system.wa_id: missing (the new number of a number change)');
  } else {
    if (!previousUserId) return missing('system.previous_user_id: missing (the old user id of a user id change)');
    if (!userId) return missing('system.user_id: missing (the new user id of a user id change)');
    if (userId === previousUserId) return same('system.user_id: the same as system.previous_user_id');
  }
  const old = numberAt('from', raw.from);
  if ('problem' in old) return old;
  const next = numberAt('system.wa_id', system.wa_id);
  if ('problem' in next) return next;
  if (old.ids.phone !== undefined && old.ids.phone === next.ids.phone) return same('system.wa_id: the same number as from');
  return prune({
    type: 'identity_change' as const, ...origin, change: system.type, id: raw.id, timestamp: raw.timestamp,
    previous: prune({ ...old.ids, userId: previousUserId }),
    current: prune({ ...next.ids, userId }),
  });
}

function toError(raw: NonNullable<RawStatus['errors']>[number]): WebhookError {
  return prune({ code: raw.code, title: raw.title, message: raw.message, details: raw.error_data?.details, href: raw.href });
}

/** A number's shape: a country code (no leading 0) and up to 15 digits in all. */
const WA_ID_SHAPE = /^[1-9]\d{3,14}$/;

/**
 * A status's recipient as E.164, only to find the statuses that name a person (erasure): a
 * number's shape is enough there, so no numbering-plan check (it cost more than the rest of the
 * status). Numbers that become contacts (`from`, number changes, preferences) are validated.
 */
function recipientPhoneOf(recipientId: string | undefined): E164 | undefined {
  return recipientId !== undefined && WA_ID_SHAPE.test(recipientId) ? `+${recipientId}` : undefined;
}

function toStatus(raw: RawStatus, origin: Origin): StatusEvent | undefined {
  if (!(DELIVERY_STATUSES as readonly string[]).includes(raw.status)) return undefined;
  const recipientId = raw.recipient_id || undefined;
  return prune({
    type: 'status' as const, ...origin, id: raw.id, status: raw.status as DeliveryStatus, timestamp: raw.timestamp,
    recipientId, recipientPhone: recipientPhoneOf(recipientId), recipientUserId: raw.recipient_user_id || undefined,
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
