import type { z } from 'zod';
import { WEBHOOK_LIMITS, type envelopeSchema, type messagesValueSchema, type RawContact, type RawStatus } from './webhook-schema.js';

/**
 * Hand-written checks of the shapes nearly every webhook POST has (the envelope, a `messages`
 * change, a status without errors, a contact): each takes only what the zod schema of the same
 * name takes, and reads it as the schema does. Whatever they do not take, even when it is valid,
 * goes to the schema, which decides and says why. They exist because the schemas cost more than
 * the rest of a status POST's parsing (a test holds each to its schema).
 */

type Plain = Record<string, unknown>;

/** An object as JSON.parse makes it. */
function isPlain(value: unknown): value is Plain {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isText(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/** Absent, or a string of `min` to `max` characters. */
function isOptionalText(value: unknown, min: number, max: number): boolean {
  return value === undefined || isText(value, min, max);
}

const USER_ID = /^[!-{}~]*$/;
const SECONDS = /^\d{1,12}$/;

function isOptionalUserId(value: unknown): boolean {
  return value === undefined || (isText(value, 0, WEBHOOK_LIMITS.userId) && USER_ID.test(value));
}

/** `seconds` of the schema: digits as a string, or a whole number, read as a time. */
function timeOf(value: unknown): Date | undefined {
  if (typeof value === 'string') return SECONDS.test(value) ? new Date(Number(value) * 1000) : undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 1e12) return new Date(value * 1000);
  return undefined;
}

/** `envelopeSchema`. */
export function fastEnvelope(body: unknown): z.infer<typeof envelopeSchema> | undefined {
  if (!isPlain(body) || body.object !== 'whatsapp_business_account' || !Array.isArray(body.entry)) return undefined;
  for (const entry of body.entry as unknown[]) {
    if (!isPlain(entry) || !isText(entry.id, 0, WEBHOOK_LIMITS.word) || !Array.isArray(entry.changes)) return undefined;
    for (const change of entry.changes as unknown[]) {
      // The schema wants `value` there (of any kind): an absent one is the schema's to refuse.
      if (!isPlain(change) || !isText(change.field, 1, WEBHOOK_LIMITS.word) || change.value === undefined) return undefined;
    }
  }
  return body as z.infer<typeof envelopeSchema>;
}

/** `messagesValueSchema`. */
export function fastMessagesValue(value: unknown): z.infer<typeof messagesValueSchema> | undefined {
  if (!isPlain(value)) return undefined;
  const { metadata } = value;
  if (!isPlain(metadata) || !isText(metadata.phone_number_id, 1, WEBHOOK_LIMITS.word) || !isOptionalText(metadata.display_phone_number, 0, WEBHOOK_LIMITS.word)) return undefined;
  for (const list of [value.contacts, value.messages, value.statuses, value.errors]) {
    if (list !== undefined && !Array.isArray(list)) return undefined;
  }
  return value as z.infer<typeof messagesValueSchema>;
}

/** `statusSchema`, for a status without `errors` (a failed one goes to the schema). */
export function fastStatus(raw: unknown): RawStatus | undefined {
  if (!isPlain(raw) || raw.errors !== undefined) return undefined;
  if (!isText(raw.id, 1, WEBHOOK_LIMITS.id) || !isText(raw.status, 1, WEBHOOK_LIMITS.word)) return undefined;
  if (!isOptionalText(raw.recipient_id, 0, WEBHOOK_LIMITS.waId) || !isOptionalUserId(raw.recipient_user_id) || !isOptionalText(raw.biz_opaque_callback_data, 0, 512)) return undefined;
  const { pricing } = raw;
  if (pricing !== undefined) {
    if (!isPlain(pricing) || (pricing.billable !== undefined && typeof pricing.billable !== 'boolean')) return undefined;
    if (!isOptionalText(pricing.pricing_model, 0, WEBHOOK_LIMITS.word) || !isOptionalText(pricing.type, 0, WEBHOOK_LIMITS.word) || !isOptionalText(pricing.category, 0, WEBHOOK_LIMITS.word)) return undefined;
  }
  const timestamp = timeOf(raw.timestamp);
  if (timestamp === undefined) return undefined;
  return { ...raw, timestamp } as RawStatus;
}

/** `contactSchema`. */
export function fastContact(raw: unknown): RawContact | undefined {
  if (!isPlain(raw) || !isOptionalText(raw.wa_id, 0, WEBHOOK_LIMITS.waId) || !isOptionalUserId(raw.user_id)) return undefined;
  const { profile } = raw;
  if (profile !== undefined && !(isPlain(profile) && isOptionalText(profile.name, 0, WEBHOOK_LIMITS.short) && isOptionalText(profile.username, 0, WEBHOOK_LIMITS.short))) return undefined;
  return raw as RawContact;
}
