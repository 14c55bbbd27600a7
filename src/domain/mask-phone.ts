/**
 * Masks a phone number for logs: the country code and operator prefix stay readable,
 * the subscriber part does not. `+4915112345678` becomes `+49151******78`.
 */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length === 0) return phone.length === 0 ? '' : '***';
  const plus = phone.trimStart().startsWith('+') ? '+' : '';
  if (digits.length <= 7) return plus + '*'.repeat(Math.max(digits.length - 2, 1)) + digits.slice(-2);
  return plus + digits.slice(0, 5) + '*'.repeat(digits.length - 7) + digits.slice(-2);
}

/** Runs of 8 to 15 digits, optionally with a leading `+`: what an MSISDN looks like in free text. */
const PHONE_IN_TEXT = /\+?\d{8,15}\b/g;

/** Masks every phone-number-like run of digits inside a longer text (error messages, URLs). */
export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_IN_TEXT, (match) => maskPhone(match));
}
