/** A masked number hides at least this many digits (all but the last two of a shorter one). */
const HIDDEN_DIGITS = 5;

/**
 * Masks a phone number for logs: the country code and operator prefix stay readable,
 * the subscriber part does not. `+4915112345678` becomes `+49151******78`; a shorter number
 * shows less of its start, so that at least five digits stay hidden (`+14155550123` becomes
 * `+1415*****23`).
 */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length === 0) return phone.length === 0 ? '' : '***';
  const plus = phone.trimStart().startsWith('+') ? '+' : '';
  if (digits.length <= HIDDEN_DIGITS + 2) return plus + '*'.repeat(Math.max(digits.length - 2, 1)) + digits.slice(-2);
  const hidden = Math.max(digits.length - 7, HIDDEN_DIGITS);
  return plus + digits.slice(0, digits.length - 2 - hidden) + '*'.repeat(hidden) + digits.slice(-2);
}

/**
 * What a phone number looks like in free text: a `+` and at least 8 digits, which may be grouped
 * by single spaces or hyphens (`+49 151 2001 0501`), or a run of 8 or more digits that stands
 * alone (a wa_id: `4915120010501`, `0049…`). "Alone" means not touching a letter, digit or `_`,
 * and not after a `.`: the digits inside ids (`wamid.HBgL…00000012`, `bmws4tu12345678`) and
 * decimals (`0.045600000001`) are left as they are. A number written without `+` and grouped
 * (`0151 2001 0501`) is not recognised; a string of 8 digits or more that is no phone number
 * (`"1767225600000"`, a date written `20261001`) is masked all the same.
 */
const PHONE_IN_TEXT = /(?<![\w.+])(?:\+\d(?:[ -]?\d){7,}|\d{8,})(?!\w)/g;

/** Masks every phone-number-like run of digits inside a longer text (error messages, URLs, ids). */
export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_IN_TEXT, (match) => maskPhone(match));
}
