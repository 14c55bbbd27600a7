/** The languages the conversation is written in. Wording for each lives in the topics file. */
export const LANGUAGES = ['de', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Country calling codes whose contacts are written to in German: Germany, Austria, Switzerland, Liechtenstein. */
const GERMAN_CALLING_CODES = ['49', '43', '41', '423'] as const;

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

/**
 * The language to write to a contact in: the stored language when it is one we speak
 * (`de`, `de-AT`, `en_US` count by their primary subtag), else German for +49, +43, +41
 * and +423 numbers, else English. Calling codes are prefix-free, so a string prefix is exact.
 */
export function chooseLanguage(stored: string | undefined, phone: string | undefined): Language {
  const primary = stored?.trim().toLowerCase().split(/[-_]/)[0];
  if (isLanguage(primary)) return primary;
  const digits = phone?.replace(/^\+/, '') ?? '';
  return GERMAN_CALLING_CODES.some((code) => digits.startsWith(code)) ? 'de' : 'en';
}
