import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TopicContent } from '../src/domain/broadcast-content.js';
import { ConfigError } from '../src/domain/errors.js';
import type { RateCard } from '../src/domain/pricing.js';

const fieldSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('number'), fractionDigits: z.number().int().min(0).max(10).optional() }),
  z.strictObject({ type: z.literal('date'), format: z.string().min(1) }),
  z.strictObject({ type: z.literal('text') }),
]);

const templateSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9_]{1,512}$/, 'lower-case letters, digits and _'),
  language: z.string().regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, 'a language code such as de or en_US'),
  category: z.enum(['MARKETING', 'UTILITY', 'AUTHENTICATION']),
  parameters: z.union([z.record(z.string().regex(/^[a-z0-9_]+$/), z.string()), z.array(z.string())]),
  quickReplies: z.array(z.string().min(1).max(256)).max(10).default([]),
});

/** The `{name}` placeholders of a text, as renderContent finds them. */
function placeholders(text: string): string[] {
  return [...text.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? '');
}

const topicSchema = z
  .strictObject({
    locale: z.string().refine((l) => Intl.NumberFormat.supportedLocalesOf([l]).length > 0, 'unknown locale'),
    sessionText: z.string().min(1),
    fields: z.record(z.string(), fieldSchema).default({}),
    templates: z.array(templateSchema).default([]),
  })
  .superRefine((topic, ctx) => {
    // A placeholder without a field would only be refused when someone publishes.
    const declared = Object.keys(topic.fields);
    const check = (text: string, path: (string | number)[]): void => {
      for (const name of placeholders(text)) {
        if (!declared.includes(name)) ctx.addIssue({ code: 'custom', path, message: `unknown placeholder {${name}} (declared in fields: ${declared.join(', ') || 'none'})` });
      }
    };
    check(topic.sessionText, ['sessionText']);
    topic.templates.forEach((template, t) => {
      const parameters = Array.isArray(template.parameters) ? template.parameters.map((p, i) => [i, p] as const) : Object.entries(template.parameters);
      for (const [key, value] of parameters) check(value, ['templates', t, 'parameters', key]);
    });
  });

const broadcastsSchema = z.strictObject({ $comment: z.string().optional(), topics: z.record(z.string(), topicSchema) });

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD').transform((d) => new Date(`${d}T00:00:00Z`));
const charge = z.enum(['free', 'utility']);
const rateCardSchema = z.strictObject({
  $comment: z.string().optional(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  periods: z.array(z.strictObject({
    effectiveFrom: day,
    country: z.string().regex(/^(\*|\d{1,4})$/, 'a calling code such as 49, or *'),
    rates: z.strictObject({ MARKETING: z.number().min(0), UTILITY: z.number().min(0), AUTHENTICATION: z.number().min(0) }),
    sessionInWindow: charge,
    utilityTemplateInWindow: charge,
  })).min(1),
});

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function check<T extends z.ZodType>(schema: T, json: unknown, path: string): z.output<T> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.map(String).join('.') || '(file)';
  throw new ConfigError(`invalid ${path}: ${where}: ${issue?.message ?? 'invalid'}`);
}

/** The broadcast content of every topic, checked against the topics the conversation knows. */
export function loadTopicContents(path: string, knownTopics: readonly string[]): Map<string, TopicContent> {
  const file = check(broadcastsSchema, readJson(path, 'broadcasts file'), path);
  const contents = new Map<string, TopicContent>();
  for (const [topic, content] of Object.entries(file.topics)) {
    if (!knownTopics.includes(topic)) throw new ConfigError(`invalid ${path}: topics.${topic}: not a topic of the topics file (known: ${knownTopics.join(', ')})`);
    contents.set(topic, { topic, ...content });
  }
  return contents;
}

export function loadRateCard(path: string): RateCard {
  return check(rateCardSchema, readJson(path, 'rate card'), path);
}
