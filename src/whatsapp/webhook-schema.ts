import { z } from 'zod';
import { fromWaId, type E164 } from '../domain/phone.js';

/**
 * The parts of Meta's WhatsApp Business Account webhook the worker reads. Objects are
 * loose: fields Meta adds later pass through untouched; only what we use is required.
 * Timestamps are seconds since the epoch, as a string (messages, statuses) or a number
 * (user_preferences); both are accepted.
 *
 * Two levels: the envelope (`object`, `entry[].changes[].field`) decides whether a body is a
 * webhook at all; each change's value, contact, message, status and preference is then checked
 * on its own, so one bad event is refused without refusing the batch.
 */

/**
 * Longest values accepted: above what the platform sends, below what breaks what is derived from
 * them (an inbound id becomes part of a reply's `biz_opaque_callback_data`, at most 512 characters).
 */
export const WEBHOOK_LIMITS = Object.freeze({
  /** Message, status and button ids (a wamid is about 60 characters). */
  id: 256,
  /** A `wa_id` is at most 15 digits; longer strings are not looked at. */
  waId: 32,
  /** A business-scoped user id: a calling code, a dot and up to 128 characters. */
  userId: 160,
  /** The platform's limit for a text message. */
  text: 4096,
  /** Names, titles, payloads, error texts. */
  short: 1024,
  /** Status values, categories, pricing fields, change fields, entry and phone number ids. */
  word: 64,
});

const text = (max: number) => z.string().max(max);
const word = z.string().min(1).max(WEBHOOK_LIMITS.word);
const id = z.string().min(1).max(WEBHOOK_LIMITS.id);
const waId = text(WEBHOOK_LIMITS.waId);
/** Printable ASCII without `|`, which separates the sender from the id in stored keys. Empty means absent. */
const userId = text(WEBHOOK_LIMITS.userId).regex(/^[!-{}~]*$/, 'not a user id');

const seconds = z.union([
  z.string().regex(/^\d{1,12}$/),
  z.number().int().nonnegative().max(1e12),
]).transform((value) => new Date(Number(value) * 1000));

/** Message types Meta documents for inbound `messages[]`. */
export const MESSAGE_TYPES = [
  'text', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts', 'interactive', 'button',
  'reaction', 'order', 'system', 'request_welcome', 'unsupported', 'unknown', 'ephemeral',
] as const;

export const envelopeSchema = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z.array(z.looseObject({
    id: text(WEBHOOK_LIMITS.word),
    changes: z.array(z.looseObject({
      field: word,
      value: z.unknown(),
    })),
  })),
});

const metadataSchema = z.looseObject({
  display_phone_number: text(WEBHOOK_LIMITS.word).optional(),
  phone_number_id: word,
});

/** A `messages` change: the lists are checked item by item. */
export const messagesValueSchema = z.looseObject({
  metadata: metadataSchema,
  contacts: z.array(z.unknown()).optional(),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
});

export const userPreferencesValueSchema = z.looseObject({
  metadata: metadataSchema,
  user_preferences: z.array(z.unknown()),
});

export const contactSchema = z.looseObject({
  wa_id: waId.optional(),
  user_id: userId.optional(),
  profile: z.looseObject({ name: text(WEBHOOK_LIMITS.short).optional(), username: text(WEBHOOK_LIMITS.short).optional() }).optional(),
});

const replySchema = z.looseObject({ id, title: text(WEBHOOK_LIMITS.short) });

/** What a message of each type must carry to be read. */
const REQUIRED_PART: Partial<Record<(typeof MESSAGE_TYPES)[number], 'text' | 'interactive' | 'button' | 'reaction'>> = {
  text: 'text', interactive: 'interactive', button: 'button', reaction: 'reaction',
};

export const messageSchema = z.looseObject({
  id,
  from: waId.optional(),
  from_user_id: userId.optional(),
  timestamp: seconds,
  type: z.enum(MESSAGE_TYPES),
  context: z.looseObject({ from: waId.optional(), id: id.optional() }).optional(),
  text: z.looseObject({ body: text(WEBHOOK_LIMITS.text) }).optional(),
  interactive: z.looseObject({
    type: word,
    button_reply: replySchema.optional(),
    list_reply: replySchema.optional(),
  }).optional(),
  button: z.looseObject({ payload: text(WEBHOOK_LIMITS.short).optional(), text: text(WEBHOOK_LIMITS.short).optional() }).optional(),
  reaction: z.looseObject({ message_id: id.optional(), emoji: text(WEBHOOK_LIMITS.word).optional() }).optional(),
}).superRefine((message, ctx) => {
  const part = REQUIRED_PART[message.type];
  if (part !== undefined && message[part] === undefined) ctx.addIssue({ code: 'custom', path: [part], message: 'missing', params: { missing: true } });
});

/**
 * `system` message types that say a person's number (and with it their business-scoped user id)
 * changed: `user_changed_number` names the old number in `from` and the new one in `system.wa_id`;
 * `user_changed_user_id` (no number can be shared) names only the user ids. Both carry the new
 * user id in `system.user_id` and the previous one in `system.previous_user_id` (Meta's system
 * messages reference, and its changelog of 2026-08-11). Other `system` types are read as messages.
 */
export const IDENTITY_CHANGE_TYPES = ['user_changed_number', 'user_changed_user_id'] as const;
export type IdentityChangeType = (typeof IDENTITY_CHANGE_TYPES)[number];

/** Whether a message read by `messageSchema` is a `system` message about a changed number or user id. */
export function isIdentityChange(message: RawMessage): boolean {
  if (message.type !== 'system') return false;
  const system: unknown = (message as { system?: unknown }).system;
  if (typeof system !== 'object' || system === null) return false;
  return (IDENTITY_CHANGE_TYPES as readonly unknown[]).includes((system as { type?: unknown }).type);
}

/**
 * What a number change must look like to be read (which identities each type must name is
 * checked by the parser). The `body` repeats the numbers and the profile name: it is not read.
 */
export const identityChangeSchema = z.looseObject({
  id,
  from: waId.optional(),
  timestamp: seconds,
  type: z.literal('system'),
  system: z.looseObject({
    type: z.enum(IDENTITY_CHANGE_TYPES),
    wa_id: waId.optional(),
    user_id: userId.optional(),
    previous_user_id: userId.optional(),
  }),
});

export const statusErrorSchema = z.looseObject({
  code: z.number().int(),
  title: text(WEBHOOK_LIMITS.short).optional(),
  message: text(WEBHOOK_LIMITS.short).optional(),
  error_data: z.looseObject({ details: text(WEBHOOK_LIMITS.short).optional() }).optional(),
  href: text(WEBHOOK_LIMITS.short).optional(),
});

export const statusSchema = z.looseObject({
  id,
  status: word,
  timestamp: seconds,
  recipient_id: waId.optional(),
  recipient_user_id: userId.optional(),
  /** The platform's own limit: what we send back is at most 512 characters. */
  biz_opaque_callback_data: text(512).optional(),
  pricing: z.looseObject({
    billable: z.boolean().optional(),
    pricing_model: text(WEBHOOK_LIMITS.word).optional(),
    type: text(WEBHOOK_LIMITS.word).optional(),
    category: text(WEBHOOK_LIMITS.word).optional(),
  }).optional(),
  errors: z.array(statusErrorSchema).max(100).optional(),
});

export const userPreferenceSchema = z.looseObject({
  wa_id: waId.optional(),
  user_id: userId.optional(),
  detail: text(WEBHOOK_LIMITS.short).optional(),
  category: word,
  value: word,
  timestamp: seconds,
});

export type RawContact = z.infer<typeof contactSchema>;
export type RawMessage = z.infer<typeof messageSchema>;
export type RawStatus = z.infer<typeof statusSchema>;
export type RawIdentityChange = z.infer<typeof identityChangeSchema>;

/** Why a part of a webhook was refused, as a stable code (a metric label). */
export type RejectionCode = 'invalid-phone' | 'invalid-timestamp' | 'unknown-type' | 'missing-field' | 'too-long' | 'invalid-field';

export interface Problem {
  readonly code: RejectionCode;
  /** `field: what is wrong`, naming the place and the kind of error, never the value. */
  readonly reason: string;
}

function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const part of path) name += typeof part === 'number' ? `[${part}]` : `${name === '' ? '' : '.'}${String(part)}`;
  return name;
}

/**
 * A zod issue in words of our own: zod's messages are safe today, but the wording is kept here so
 * that no value (the input, or a regex that echoes it) can reach a log or an answer.
 */
export function describeIssue(issue: z.core.$ZodIssue): Problem {
  const field = fieldName(issue.path);
  const last = issue.path.at(-1);
  const say = (code: RejectionCode, what: string): Problem => ({ code, reason: field === '' ? what : `${field}: ${what}` });
  // Parsed with `reportInput`: an issue about an undefined input is a missing field.
  if ((issue.code !== 'custom' && issue.input === undefined) || (issue.code === 'custom' && issue.params?.missing === true)) return say('missing-field', 'missing');
  if (last === 'timestamp') return say('invalid-timestamp', 'not seconds since the epoch');
  if (issue.code === 'too_big') {
    return issue.origin === 'string' ? say('too-long', `longer than ${String(issue.maximum)} characters`) : say('too-long', `more than ${String(issue.maximum)} items`);
  }
  if (issue.code === 'too_small') return say('invalid-field', 'empty');
  if (issue.code === 'invalid_value') {
    if (last === 'type') return say('unknown-type', 'not a WhatsApp message type');
    return say('invalid-field', `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`);
  }
  if (issue.code === 'invalid_type') return say('invalid-field', `expected ${issue.expected}`);
  if (issue.code === 'invalid_format') return say('invalid-field', 'wrong format');
  return say('invalid-field', 'invalid');
}

/** The first problem of a failed parse (zod lists issues in field order). */
export function firstProblem(error: z.ZodError): Problem {
  const issue = error.issues[0];
  return issue ? describeIssue(issue) : { code: 'invalid-field', reason: 'invalid' };
}

/**
 * Checks a WhatsApp `wa_id` the way the worker accepts it: digits with the country code, valid in
 * the numbering plan (libphonenumber). The problem never repeats the number. The sandbox uses the
 * same check, so it cannot send the worker a number the worker refuses.
 */
export function checkWaId(value: string): { ok: true; e164: E164 } | { ok: false; problem: string } {
  const parsed = fromWaId(value);
  if (parsed.ok) return { ok: true, e164: parsed.e164 };
  // parsePhone's reason is `not a valid phone number: <masked> (<kind of error>)`: keep the kind.
  const open = parsed.reason.indexOf(' (');
  const why = open >= 0 && parsed.reason.endsWith(')') ? parsed.reason.slice(open + 2, -1) : 'invalid';
  return { ok: false, problem: `not a valid phone number (${why})` };
}
