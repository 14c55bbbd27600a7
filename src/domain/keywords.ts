/**
 * Keyword matching for inbound messages. A keyword matches only the WHOLE message, after
 * normalisation: "STOP", " stop ", "Stopp!", "stopp." match the keyword "Stopp"/"STOP";
 * "Stop sending me the bill" matches nothing.
 */

/** Anything at the edges that is not a letter or a digit: punctuation, symbols, emoji, spaces. */
const EDGE_NOISE = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;
/** Combining marks (accents after NFKD, emoji variation selectors) and invisible format characters (ZWJ, ZWSP). */
const MARKS_AND_FORMAT = /[\p{M}\p{Cf}]/gu;

/**
 * Normalises a message or a keyword for comparison: compatibility decomposition (NFKD),
 * accents removed, lower case, `ß` as `ss`, inner whitespace collapsed to one space, and
 * punctuation or emoji at either end dropped. `"  ABBESTELLEN!! 🙏"` becomes `"abbestellen"`,
 * `"Straße"` becomes `"strasse"`, `"Fallzählen"` becomes `"fallzahlen"`.
 */
export function normalizeKeywordText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(MARKS_AND_FORMAT, '')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(EDGE_NOISE, '')
    .replace(/\s+/gu, ' ');
}

/** True when the whole message, normalised, equals one of the keywords, normalised. */
export function matchesKeyword(text: string | undefined, keywords: readonly string[]): boolean {
  if (text === undefined) return false;
  const normalized = normalizeKeywordText(text);
  if (normalized === '') return false;
  return keywords.some((keyword) => normalizeKeywordText(keyword) === normalized);
}

/** True when the whole message is a stop keyword. */
export function isStopMessage(text: string | undefined, stopKeywords: readonly string[]): boolean {
  return matchesKeyword(text, stopKeywords);
}

export interface KeywordTopic {
  readonly id: string;
  readonly keywords: readonly string[];
}

/** The id of the first topic whose subscribe keyword is the whole message, or undefined. */
export function matchSubscribeKeyword(text: string | undefined, topics: readonly KeywordTopic[]): string | undefined {
  return topics.find((topic) => matchesKeyword(text, topic.keywords))?.id;
}
