import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { maskPhone } from './mask-phone.js';
import { parsePhone, type E164 } from './phone.js';

/**
 * How an operator or a file names one contact: a phone number or WhatsApp's business-scoped
 * user id (BSUID: a country prefix, a dot and up to 128 printable characters). The prefix is a
 * calling code in some of Meta's pages (`49.AbC123…`) and the two-letter country code in others
 * (`DE.1423…`); both are taken.
 */
export type ContactId =
  | { readonly kind: 'phone'; readonly phone: E164 }
  | { readonly kind: 'bsuid'; readonly userId: string };

/** The BSUID's shape as the webhook schema accepts it: no space and no `|` (inbound keys use it as a separator). */
const BSUID = /^(?:\d{1,4}|[A-Z]{2})\.[!-{}~]{1,128}$/;

export function isBsuid(text: string): boolean {
  return BSUID.test(text);
}

/** A BSUID with its part after the dot hidden, for messages (`49.***`). */
export function maskBsuid(userId: string): string {
  const dot = userId.indexOf('.');
  return `${dot > 0 ? userId.slice(0, dot) : ''}.***`;
}

/** A contact id for messages: the number masked, a BSUID's own part hidden. */
export function maskContactId(id: ContactId): string {
  return id.kind === 'phone' ? maskPhone(id.phone) : maskBsuid(id.userId);
}

/**
 * Reads what `npm run forget` is given: `+4915112345678`, `0049 151 …`, a wa_id (`4915112345678`,
 * digits only), a BSUID (`49.AbC…`) or a contact key `user:<BSUID>`. A BSUID is recognised by
 * its dot followed by anything but digits and separators, so `49.151.1234` stays a number.
 */
export function parseContactId(input: string): { ok: true; id: ContactId } | { ok: false; reason: string } {
  const text = input.trim();
  if (text.startsWith('user:')) {
    const userId = text.slice('user:'.length);
    return isBsuid(userId) ? { ok: true, id: { kind: 'bsuid', userId } } : { ok: false, reason: `not a BSUID: ${maskBsuid(userId)} (a calling code, a dot and up to 128 characters)` };
  }
  if (isBsuid(text) && (/^[A-Z]/.test(text) || /[^\d\s\-()./]/.test(text.slice(text.indexOf('.') + 1)))) return { ok: true, id: { kind: 'bsuid', userId: text } };
  const international = /^\d+$/.test(text) && !text.startsWith('0') ? `+${text}` : text;
  const phone = parsePhone(international);
  return phone.ok ? { ok: true, id: { kind: 'phone', phone: phone.e164 } } : { ok: false, reason: `${phone.reason}; a BSUID is a calling code, a dot and up to 128 characters` };
}

/**
 * The calling code of an E.164 number (`+4915112345678` → `+49`): what the rate card prices a
 * message by, and nothing that names the person. Undefined for anything that is no number.
 */
export function callingCodeOf(key: string): string | undefined {
  if (!key.startsWith('+')) return undefined;
  try {
    return `+${parsePhoneNumberWithError(key).countryCallingCode}`;
  } catch {
    return undefined;
  }
}
