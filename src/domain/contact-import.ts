import { isBsuid, maskBsuid } from './contact-id.js';
import type { SubscriptionState } from './conversation.js';
import { parsePhone, type E164 } from './phone.js';

/**
 * Importing contacts who opted in elsewhere, one CSV row per contact: the header, each row's
 * checks and what a row does to the contact as stored. Pure: `now` and the stored state come in.
 */

export const IMPORT_COLUMNS = ['phone', 'bsuid', 'consent_at', 'consent_text', 'consent_ref', 'language', 'name'] as const;
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/**
 * Why a row is not applied.
 * - `malformed-row`: more fields than the header names (an unknown column).
 * - `invalid-phone`, `invalid-bsuid`, `missing-contact` (neither), `invalid-language`, `invalid-field` (too long).
 * - `missing-consent-time`, `invalid-consent-time`, `consent-in-future`, `missing-consent-text`.
 * - `suppressed`: the number opted out (STOP) or was forgotten after the row's consent.
 * - `unsubscribed-later`: the contact left the topic after the row's consent.
 * - `removed`: the contact is removed.
 */
export const IMPORT_REJECT_REASONS = [
  'unknown-column', 'invalid-phone', 'invalid-bsuid', 'missing-contact', 'invalid-language', 'invalid-field',
  'missing-consent-time', 'invalid-consent-time', 'consent-in-future', 'missing-consent-text',
  'suppressed', 'unsubscribed-later', 'removed',
] as const;
export type ImportRejectReason = (typeof IMPORT_REJECT_REASONS)[number];

/** Consent collected outside WhatsApp, as an imported subscription records it. */
export interface ImportedConsent {
  readonly source: 'import';
  /** How it was collected (`--consent-source`: `web-form`, `paper`, ...). */
  readonly collectedBy: string;
  /** The wording the contact agreed to. */
  readonly wording: string;
  readonly language?: string;
  /** The other system's reference for this consent. */
  readonly ref?: string;
}

/** A row that passed its checks. */
export interface ImportRow {
  readonly phone?: E164;
  readonly userId?: string;
  readonly consentAt: Date;
  readonly consentText: string;
  readonly consentRef?: string;
  readonly language?: string;
  readonly name?: string;
}

export type RowCheck =
  | { readonly ok: true; readonly row: ImportRow }
  | { readonly ok: false; readonly reason: ImportRejectReason; readonly message: string };

/** The header's columns by position. */
export type ImportHeader = readonly ImportColumn[];

/** Reads the header row: known names in any order and case, each once, a contact column and the consent columns. */
export function checkHeader(fields: readonly string[]): { ok: true; header: ImportHeader } | { ok: false; message: string } {
  const names = fields.map((f) => f.trim().toLowerCase());
  const unknown = names.filter((n) => !(IMPORT_COLUMNS as readonly string[]).includes(n));
  if (unknown.length > 0) return { ok: false, message: `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')} in the header (known: ${IMPORT_COLUMNS.join(', ')})` };
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) return { ok: false, message: `column ${JSON.stringify(twice[0])} named twice in the header` };
  if (!names.includes('phone') && !names.includes('bsuid')) return { ok: false, message: 'the header names neither phone nor bsuid' };
  const missing = (['consent_at', 'consent_text'] as const).filter((n) => !names.includes(n));
  if (missing.length > 0) return { ok: false, message: `the header lacks ${missing.join(' and ')}` };
  return { ok: true, header: names as ImportColumn[] };
}

/** ISO 8601: a date, or a date and time with `Z` or an offset (a local time without one is ambiguous). */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$/;
const MAX_TEXT = 4096;
const MAX_SHORT = 256;

/** An ISO 8601 date (its start, UTC) or an instant with a zone; undefined when it is none. */
export function parseIsoInstant(text: string): Date | undefined {
  const match = ISO_INSTANT.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match;
  const at = new Date(match[4] === undefined ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(at.getTime())) return undefined;
  // Date accepts 2025-02-30 as 2 March: the parts written must be a real date and time.
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) return undefined;
  return at;
}

/**
 * Checks one data row against the header: the contact (a phone number, normalised to E.164 and
 * validated, or a BSUID), the consent time (not after `now`) and wording, and the optional
 * fields. Messages never hold the number or BSUID in clear.
 */
export function checkRow(fields: readonly string[], header: ImportHeader, now: Date): RowCheck {
  const reject = (reason: ImportRejectReason, message: string): RowCheck => ({ ok: false, reason, message });
  if (fields.length > header.length) return reject('unknown-column', `${fields.length} fields, but the header names ${header.length} columns`);
  const value = (column: ImportColumn): string => {
    const index = header.indexOf(column);
    return index < 0 ? '' : (fields[index] ?? '').trim();
  };
  const phoneText = value('phone');
  const bsuid = value('bsuid');
  let phone: E164 | undefined;
  if (phoneText !== '') {
    const parsed = parsePhone(phoneText);
    if (!parsed.ok) return reject('invalid-phone', parsed.reason);
    phone = parsed.e164;
  }
  if (bsuid !== '' && !isBsuid(bsuid)) return reject('invalid-bsuid', `not a BSUID: ${maskBsuid(bsuid)} (a calling code, a dot and up to 128 characters without spaces)`);
  if (phone === undefined && bsuid === '') return reject('missing-contact', 'neither phone nor bsuid');

  const consentText = value('consent_at');
  if (consentText === '') return reject('missing-consent-time', 'consent_at is empty');
  const consentAt = parseIsoInstant(consentText);
  if (!consentAt) return reject('invalid-consent-time', `consent_at ${JSON.stringify(consentText.slice(0, 40))} is not an ISO 8601 date or time with a zone (2025-03-01 or 2025-03-01T10:00:00Z)`);
  if (consentAt.getTime() > now.getTime()) return reject('consent-in-future', `consent_at ${consentAt.toISOString()} is in the future`);
  const wording = value('consent_text');
  if (wording === '') return reject('missing-consent-text', 'consent_text is empty: the wording the contact agreed to is the evidence');
  const language = value('language');
  if (language !== '' && !LANGUAGE_TAG.test(language)) return reject('invalid-language', `language ${JSON.stringify(language.slice(0, 20))} is not a language tag such as de or en-GB`);
  const ref = value('consent_ref');
  const name = value('name');
  if (wording.length > MAX_TEXT) return reject('invalid-field', `consent_text is longer than ${MAX_TEXT} characters`);
  if (ref.length > MAX_SHORT || name.length > MAX_SHORT) return reject('invalid-field', `${ref.length > MAX_SHORT ? 'consent_ref' : 'name'} is longer than ${MAX_SHORT} characters`);
  return {
    ok: true,
    row: {
      ...(phone ? { phone } : {}), ...(bsuid ? { userId: bsuid } : {}), consentAt, consentText: wording,
      ...(ref ? { consentRef: ref } : {}), ...(language ? { language } : {}), ...(name ? { name } : {}),
    },
  };
}

/** The stored contact as far as an import looks at it, for one topic. */
export interface StoredForImport {
  readonly exists: boolean;
  readonly status?: 'active' | 'lapsed' | 'removed';
  readonly subscription?: { readonly state: SubscriptionState; readonly changedAt: Date };
  /** The number's suppression record (opted out, removed or forgotten), with its time. */
  readonly suppressedAt?: Date;
}

export type ImportDecision =
  | { readonly kind: 'subscribe'; readonly note?: string; readonly liftSuppression: boolean }
  | { readonly kind: 'unchanged'; readonly note: string }
  | { readonly kind: 'reject'; readonly reason: ImportRejectReason; readonly message: string };

/**
 * What one valid row does. A contact already subscribed keeps the subscription and the
 * consent on record (evidence given over WhatsApp is never replaced). A suppressed number, or a
 * contact who left the topic, is subscribed again only when the row's consent is newer than
 * the opt-out (the suppression is then lifted, as new consent over WhatsApp lifts it).
 */
export function decideImport(stored: StoredForImport, row: ImportRow): ImportDecision {
  const consent = row.consentAt.getTime();
  if (stored.status === 'removed') return { kind: 'reject', reason: 'removed', message: 'the contact is removed' };
  if (stored.subscription?.state === 'subscribed') return { kind: 'unchanged', note: 'already subscribed' };
  if (stored.suppressedAt && stored.suppressedAt.getTime() >= consent) {
    return { kind: 'reject', reason: 'suppressed', message: `opted out on ${stored.suppressedAt.toISOString()}, after this consent (${row.consentAt.toISOString()}): not subscribed again` };
  }
  const left = stored.subscription?.state === 'unsubscribed' ? stored.subscription.changedAt : undefined;
  if (left && left.getTime() >= consent) {
    return { kind: 'reject', reason: 'unsubscribed-later', message: `left the topic on ${left.toISOString()}, after this consent (${row.consentAt.toISOString()}): not subscribed again` };
  }
  if (stored.suppressedAt) return { kind: 'subscribe', liftSuppression: true, note: `subscribed again: this consent is newer than the opt-out of ${stored.suppressedAt.toISOString()}` };
  if (left) return { kind: 'subscribe', liftSuppression: false, note: `subscribed again: this consent is newer than leaving the topic on ${left.toISOString()}` };
  return { kind: 'subscribe', liftSuppression: false };
}
