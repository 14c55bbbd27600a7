import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { normalizeKeywordText } from '../src/domain/keywords.js';
import { ConfigError } from '../src/domain/errors.js';
import type { ConversationConfig } from '../src/domain/conversation-config.js';

/**
 * WhatsApp limits: reply-button title 20 characters, interactive body 1024, text body 4096.
 * Button ids (`<yes>:<topic>`, at most 32 + 1 + 64 characters) stay far below their limit of 256.
 */
const BUTTON_TITLE_MAX = 20;
const INTERACTIVE_BODY_MAX = 1024;
const TEXT_BODY_MAX = 4096;

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
const buttonTitle = text(BUTTON_TITLE_MAX);
const keyword = z.string().refine((k) => normalizeKeywordText(k) !== '', 'must contain a letter or a digit');
const buttonWord = z.string().regex(/^[a-z0-9_-]{1,32}$/, 'lower-case letters, digits, _ or -, at most 32 characters');

const wordingSchema = z.strictObject({
  consentQuestion: text(INTERACTIVE_BODY_MAX),
  yesButton: buttonTitle,
  noButton: buttonTitle,
  stopButton: buttonTitle,
  subscribed: text(INTERACTIVE_BODY_MAX),
  alreadySubscribed: text(TEXT_BODY_MAX),
  declined: text(TEXT_BODY_MAX),
  stopped: text(TEXT_BODY_MAX),
  kept: text(TEXT_BODY_MAX).refine((t) => !t.includes('{topic}'), '{topic} is not available here (use {topics})'),
  help: text(TEXT_BODY_MAX).refine((t) => !t.includes('{topic}'), '{topic} is not available here (use {topics})'),
  nudge: text(INTERACTIVE_BODY_MAX),
  keepButton: buttonTitle,
});

const perLanguage = <T extends z.ZodType>(schema: T) => z.strictObject({ de: schema, en: schema });

const topicSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ or -, starting with a letter or digit'),
  names: perLanguage(text(100)),
  keywords: z.array(keyword).min(1, 'needs at least one keyword'),
  consentQuestion: z.strictObject({ de: text(INTERACTIVE_BODY_MAX).optional(), en: text(INTERACTIVE_BODY_MAX).optional() }).optional(),
  nudge: z.strictObject({ de: text(INTERACTIVE_BODY_MAX).optional(), en: text(INTERACTIVE_BODY_MAX).optional() }).optional(),
  broadcastCarriesNudgeButtons: z.boolean('must be true or false').default(false),
});

export const conversationConfigSchema = z
  .strictObject({
    $comment: z.string().optional(),
    topics: z.array(topicSchema).min(1, 'needs at least one topic'),
    stopKeywords: z.array(keyword).min(1, 'needs at least one stop keyword'),
    buttons: z.strictObject({
      yes: buttonWord.default('yes'),
      no: buttonWord.default('no'),
      stop: buttonWord.default('stop'),
      keep: buttonWord.default('keep'),
      stopPayloads: z.array(buttonWord).default(['stop']),
      keepPayloads: z.array(buttonWord).default(['keep', 'yes']),
    }).prefault({}),
    wording: perLanguage(wordingSchema),
  })
  .superRefine((config, ctx) => {
    // Every whole-message keyword must mean one thing only.
    const owner = new Map<string, string>();
    const claim = (word: string, by: string, path: (string | number)[]) => {
      const key = normalizeKeywordText(word);
      const previous = owner.get(key);
      if (previous !== undefined && previous !== by) ctx.addIssue({ code: 'custom', path, message: `"${word}" is already a keyword of ${previous}` });
      owner.set(key, by);
    };
    config.stopKeywords.forEach((word, i) => claim(word, 'stopKeywords', ['stopKeywords', i]));
    config.topics.forEach((topic, t) => {
      topic.keywords.forEach((word, k) => claim(word, `topic ${topic.id}`, ['topics', t, 'keywords', k]));
      if (config.topics.findIndex((other) => other.id === topic.id) !== t) ctx.addIssue({ code: 'custom', path: ['topics', t, 'id'], message: `duplicate topic id "${topic.id}"` });
    });
    const { yes, no, stop, keep, stopPayloads, keepPayloads } = config.buttons;
    if (new Set([yes, no, stop]).size !== 3) ctx.addIssue({ code: 'custom', path: ['buttons'], message: 'yes, no and stop must differ' });
    // `keep:<topic>` must read as keep: not as a consent answer, not as stop, and be a keep payload.
    if ([yes, no, stop].includes(keep)) ctx.addIssue({ code: 'custom', path: ['buttons', 'keep'], message: 'must differ from yes, no and stop' });
    else if (!keepPayloads.includes(keep)) ctx.addIssue({ code: 'custom', path: ['buttons', 'keep'], message: `must be one of keepPayloads (${keepPayloads.join(', ')}), or a tap on it is not understood` });
    if (keepPayloads.some((p) => stopPayloads.includes(p))) ctx.addIssue({ code: 'custom', path: ['buttons', 'keepPayloads'], message: 'a payload cannot both keep and stop' });
  });

export type ConversationConfigFile = z.input<typeof conversationConfigSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`), '');
}

/**
 * Validates parsed JSON as the conversation configuration. Any problem is a `ConfigError`
 * with one line naming the source and the field: `config/topics.json: wording.de.yesButton: at most 20 characters`.
 */
export function parseConversationConfig(json: unknown, source: string): ConversationConfig {
  const parsed = conversationConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${formatPath(issue.path) || '(top level)'}: ${issue.message}`);
    throw new ConfigError(`invalid topics file ${source}: ${problems.join('; ')}`);
  }
  const { $comment: _comment, ...config } = parsed.data;
  return deepFreeze(config);
}

/** Reads and validates the topics file (`TOPICS_FILE`, default `config/topics.json`). */
export function loadConversationConfig(path: string): ConversationConfig {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read topics file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`invalid topics file ${path}: not JSON (${(err as Error).message})`, { cause: err });
  }
  return parseConversationConfig(json, path);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
