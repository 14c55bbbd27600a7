import type { Language } from './language.js';

/**
 * What the conversation says and listens for. Plain data: `config/topics.ts` validates the
 * shipped JSON file into this shape; tests build it literally.
 *
 * Placeholders in wording: `{topic}` (the topic's display name), `{keywords}` (every
 * subscribe keyword in quotes, comma-separated), `{topics}` (the display names).
 */
export interface Wording {
  /** The consent question, sent with Yes / No buttons. Recorded as the consent wording. */
  readonly consentQuestion: string;
  /** Reply-button titles: at most 20 characters (a WhatsApp limit). */
  readonly yesButton: string;
  readonly noButton: string;
  readonly stopButton: string;
  /** After Yes. Sent with a Stop button. */
  readonly subscribed: string;
  /** A subscribe keyword from someone already subscribed to that topic. */
  readonly alreadySubscribed: string;
  /** After No. */
  readonly declined: string;
  /** After a stop keyword or the Stop button: the one confirmation. */
  readonly stopped: string;
  /** After "keep" on a nudge template. */
  readonly kept: string;
  /** The window keeper's nudge ("no news yet, do you still want updates?"), sent with Keep / Stop buttons. */
  readonly nudge: string;
  /** Reply-button title of the nudge's "keep" answer. */
  readonly keepButton: string;
  /** Anything else, at most once per customer-service window. Should name the stop keyword. */
  readonly help: string;
}

export interface TopicConfig {
  /** Lower-case letters, digits, `_` and `-`; part of button ids (`yes:<id>`). */
  readonly id: string;
  readonly names: Readonly<Record<Language, string>>;
  /** Whole-message keywords that start the subscription to this topic. */
  readonly keywords: readonly string[];
  /** A topic-specific consent question, overriding `wording.<lang>.consentQuestion`. */
  readonly consentQuestion?: Readonly<Partial<Record<Language, string>>>;
  /** A topic-specific nudge, overriding `wording.<lang>.nudge`. */
  readonly nudge?: Readonly<Partial<Record<Language, string>>>;
  /**
   * A broadcast sent as a session message carries the nudge's Keep / Stop buttons itself, so a
   * tap on the news reopens the window and that window needs no separate nudge. Absent: false.
   */
  readonly broadcastCarriesNudgeButtons?: boolean;
}

export interface ButtonConfig {
  /** Reply-button ids are `<yes>:<topic>` and `<no>:<topic>` so a tap names its topic. */
  readonly yes: string;
  readonly no: string;
  readonly stop: string;
  /** The nudge's Keep button id is `<keep>:<topic>`; it is one of `keepPayloads`. */
  readonly keep: string;
  /** Template quick-reply payloads (nudges): `stop` unsubscribes, `keep` keeps (optionally `keep:<topic>`). */
  readonly stopPayloads: readonly string[];
  readonly keepPayloads: readonly string[];
}

export interface ConversationConfig {
  readonly topics: readonly TopicConfig[];
  readonly stopKeywords: readonly string[];
  readonly buttons: ButtonConfig;
  readonly wording: Readonly<Record<Language, Wording>>;
}

export const BUTTON_ID_SEPARATOR = ':';

/** The reply-button id for a Yes / No answer to a topic's consent question. */
export function consentButtonId(answer: 'yes' | 'no', topic: string, buttons: ButtonConfig): string {
  return `${buttons[answer]}${BUTTON_ID_SEPARATOR}${topic}`;
}

export type ButtonMeaning =
  | { type: 'yes'; topic: string }
  | { type: 'no'; topic: string }
  | { type: 'stop' }
  | { type: 'keep'; topic: string | undefined };

/**
 * What a reply-button id or a template quick-reply payload means, or undefined when it
 * means nothing we know (unknown topic included). Case-insensitive; surrounding spaces ignored.
 */
export function parseButtonId(raw: string | undefined, config: ConversationConfig): ButtonMeaning | undefined {
  if (raw === undefined) return undefined;
  const id = raw.trim().toLowerCase();
  const cut = id.indexOf(BUTTON_ID_SEPARATOR);
  const head = cut === -1 ? id : id.slice(0, cut);
  const topic = cut === -1 ? undefined : id.slice(cut + 1);
  const knownTopic = topic !== undefined && config.topics.some((t) => t.id === topic);
  const { buttons } = config;
  const is = (value: string) => value.toLowerCase() === head;
  const isAny = (values: readonly string[]) => values.some(is);

  if (is(buttons.stop) || isAny(buttons.stopPayloads)) return { type: 'stop' };
  if (topic !== undefined && knownTopic && is(buttons.yes)) return { type: 'yes', topic };
  if (topic !== undefined && knownTopic && is(buttons.no)) return { type: 'no', topic };
  if (isAny(buttons.keepPayloads)) {
    if (topic === undefined) return { type: 'keep', topic: undefined };
    return knownTopic ? { type: 'keep', topic } : undefined;
  }
  return undefined;
}

/** Fills `{name}` placeholders; unknown placeholders stay as written. */
export function fillPlaceholders(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** The consent question for a topic in a language, with placeholders filled. */
export function consentQuestionFor(topic: TopicConfig, language: Language, config: ConversationConfig): string {
  const text = topic.consentQuestion?.[language] ?? config.wording[language].consentQuestion;
  return fillPlaceholders(text, placeholderValues(language, config, topic));
}

export function placeholderValues(language: Language, config: ConversationConfig, topic?: TopicConfig): Record<string, string> {
  const values: Record<string, string> = {
    keywords: config.topics.flatMap((t) => t.keywords.map((k) => `"${k}"`)).join(', '),
    topics: config.topics.map((t) => t.names[language]).join(', '),
  };
  if (topic) values.topic = topic.names[language];
  return values;
}
