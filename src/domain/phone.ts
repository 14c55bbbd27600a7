import { parsePhoneNumberWithError, ParseError, type CountryCode } from 'libphonenumber-js/max';
import { PermanentError } from './errors.js';
import { maskPhone } from './mask-phone.js';

/** A phone number in E.164 form: `+` and up to 15 digits, e.g. `+4915112345678`. */
export type E164 = string;

export type PhoneParse =
  | { ok: true; e164: E164; country: CountryCode | undefined }
  | { ok: false; reason: string };

/** Characters people type around the digits of a phone number. Anything else (letters, `#`, `*`) is refused. */
const ALLOWED = /^\+?[\d\s\-()./\u00a0]+$/;

const REASONS: Record<string, string> = {
  INVALID_COUNTRY: 'no country code (write it with + or 00, or give a default country)',
  NOT_A_NUMBER: 'not a number',
  TOO_SHORT: 'too short',
  TOO_LONG: 'too long',
  INVALID_LENGTH: 'wrong length',
};

/**
 * Parses what a person, a CSV file or a webhook calls a phone number into E.164, with real
 * validation against the full numbering-plan metadata (`libphonenumber-js/max`).
 * Accepts `+49 151 1234-5678`, `0049 151 12345678`, `(0151) 12345678` with a default country.
 * Failure reasons mask the number (they end up in logs and HTTP answers).
 */
export function parsePhone(input: string, defaultCountry?: CountryCode): PhoneParse {
  const trimmed = input.trim();
  const fail = (why: string): PhoneParse => ({ ok: false, reason: `not a valid phone number: ${maskPhone(input)} (${why})` });
  if (trimmed === '') return fail('empty');
  if (!ALLOWED.test(trimmed)) return fail('only digits, spaces, - ( ) . / and a leading + are allowed');
  const compact = trimmed.replace(/[\s\-()./\u00a0]/g, '');
  // An international call prefix `00` means the same as `+`, with or without a default country.
  const international = compact.startsWith('00') ? `+${compact.slice(2)}` : compact;
  if (international.startsWith('+') && international.length > 16) return fail('too long: E.164 allows at most 15 digits');
  try {
    const parsed = parsePhoneNumberWithError(international, defaultCountry === undefined ? undefined : { defaultCountry });
    if (!parsed.isPossible()) {
      const digits = parsed.nationalNumber.length;
      return fail(digits < 4 ? 'too short' : 'wrong length for its country');
    }
    if (!parsed.isValid()) return fail(`no such number in the numbering plan of +${parsed.countryCallingCode}`);
    return { ok: true, e164: parsed.number, country: parsed.country };
  } catch (err) {
    if (err instanceof ParseError) return fail(REASONS[err.message] ?? err.message.toLowerCase());
    throw err;
  }
}

/** Like `parsePhone`, but returns the E.164 string or throws a `PermanentError` (code `invalid-phone`). */
export function normalizePhone(input: string, defaultCountry?: CountryCode): E164 {
  const parsed = parsePhone(input, defaultCountry);
  if (!parsed.ok) throw new PermanentError(parsed.reason, { code: 'invalid-phone' });
  return parsed.e164;
}

/** WhatsApp's `wa_id` / `to` / `from` form of an E.164 number: the digits without `+`. */
export function toWaId(e164: E164): string {
  if (!/^\+\d{4,15}$/.test(e164)) throw new PermanentError(`not an E.164 phone number: ${maskPhone(e164)}`, { code: 'invalid-phone' });
  return e164.slice(1);
}

/**
 * Reads a WhatsApp `wa_id` (digits with the country code, no `+`) as a validated E.164 number.
 * A `wa_id` is always international, so no default country applies.
 */
export function fromWaId(waId: string): PhoneParse {
  if (!/^\d{4,15}$/.test(waId)) {
    return { ok: false, reason: `not a valid phone number: ${maskPhone(waId)} (a wa_id is 4 to 15 digits without +)` };
  }
  return parsePhone(`+${waId}`);
}
