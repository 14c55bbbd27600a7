import { readFileSync } from 'node:fs';
import { parse as parseCron } from 'node-cron';
import { z } from 'zod';
import type { TopicContent } from '../src/domain/broadcast-content.js';
import { nextSlots, type CronSchedule } from '../src/domain/cron-schedule.js';
import { parsePath, type DailyRunTopic } from '../src/domain/daily-run.js';
import { ConfigError } from '../src/domain/errors.js';

/** The daily runs of every topic that has one (DAILY_RUNS_FILE), checked against BROADCASTS_FILE. */
export interface DailyRunSettings {
  file: string;
  topics: ReadonlyMap<string, DailyRunTopic>;
}

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

const sorted = (values: readonly (number | string)[]): number[] => [...new Set(values as number[])].sort((a, b) => a - b);

/**
 * A node-cron expression (5 fields, or 6 with seconds first; names, ranges, steps, `L`, `W`,
 * `#`, `@daily`...) as node-cron itself reads it. Throws an Error saying what is wrong.
 */
export function parseSchedule(expression: string): CronSchedule {
  const parsed = parseCron(expression);
  const raw = (NICKNAMES[expression.trim().toLowerCase()] ?? expression).trim().split(/\s+/);
  const hourField = raw[raw.length === 6 ? 2 : 1] ?? '';
  return {
    expression,
    everyHour: hourField.includes('*'),
    fields: {
      seconds: sorted(parsed.second), minutes: sorted(parsed.minute), hours: sorted(parsed.hour),
      daysOfMonth: [...parsed.dayOfMonth], months: sorted(parsed.month), daysOfWeek: [...parsed.dayOfWeek],
    },
  };
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Header names whose value is a credential: only a `${VARIABLE}` may give it. */
const SECRET_HEADER = /authorization|cookie|token|secret|api[-_]?key|password/i;

const topicSchema = z.strictObject({
  schedule: z.string().min(1, 'needs a node-cron expression such as "0 9 * * *"'),
  source: z.strictObject({
    url: z.string().min(1),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a header name'), z.string()).default({}),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  }),
  fields: z.record(z.string(), z.string().refine((p) => parsePath(p) !== undefined, 'expected a path into the answer such as data.cases or series[0].value')),
  version: z.string().min(1).optional(),
  template: z.string().min(1).optional(),
  graceMinutes: z.number().int().min(1).max(24 * 60).default(60),
  budget: z.number().min(0).optional(),
});

const fileSchema = z.strictObject({ $comment: z.string().optional(), topics: z.record(z.string(), topicSchema) });

/** The `{name}` placeholders the topic's broadcasts fill: the session text and the template the run uses. */
function placeholdersUsed(content: TopicContent, templateName: string | undefined): string[] {
  const template = templateName === undefined ? content.templates[0] : content.templates.find((t) => t.name === templateName);
  const texts = [content.sessionText, ...(template ? (Array.isArray(template.parameters) ? template.parameters : Object.values(template.parameters)) : [])];
  return [...new Set(texts.flatMap((text) => [...text.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? '')))];
}

export interface DailyRunsContext {
  /** The broadcast content of every topic (BROADCASTS_FILE). */
  contents: ReadonlyMap<string, TopicContent>;
  /** Where `${NAME}` in URLs and headers is read from: the environment over `.env`. */
  environment: Readonly<Record<string, string | undefined>>;
  timezone: string;
  /** The clock's time, to check that a schedule fires at all. */
  now: Date;
}

/**
 * Reads and checks the daily-run file. A mistake is a ConfigError with one line naming the
 * file and the field: `invalid config/daily-runs.json: topics.fallzahlen.fields.cases: ...`.
 * Secrets stay in the environment: a header such as Authorization must be given as
 * `${VARIABLE}` (with any literal text around it), and the variable must be set.
 */
export function loadDailyRuns(path: string, context: DailyRunsContext): DailyRunSettings {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the daily-runs file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = fileSchema.safeParse(json);
  const fail = (where: string, message: string): never => {
    throw new ConfigError(`invalid ${path}: ${where}: ${message}`);
  };
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(issue?.path.map(String).join('.') || '(file)', issue?.message ?? 'invalid');
  }
  const topics = new Map<string, DailyRunTopic>();
  for (const [topic, entry] of Object.entries(parsed.data?.topics ?? {})) {
    const at = (field: string) => `topics.${topic}${field === '' ? '' : `.${field}`}`;
    const content = context.contents.get(topic);
    if (!content) fail(at(''), `not a topic of the broadcasts file (known: ${[...context.contents.keys()].join(', ') || 'none'})`);
    const declared = Object.keys((content as TopicContent).fields);

    let schedule: CronSchedule | undefined;
    try {
      schedule = parseSchedule(entry.schedule);
    } catch (err) {
      fail(at('schedule'), `${JSON.stringify(entry.schedule)} is not a node-cron expression: ${(err as Error).message}`);
    }
    if (nextSlots(schedule as CronSchedule, context.timezone, context.now, 1).length === 0) fail(at('schedule'), `${JSON.stringify(entry.schedule)} never fires`);

    const resolve = (value: string, field: string): string => value.replace(REFERENCE, (_, name: string) => {
      const given = context.environment[name];
      if (given === undefined || given.trim() === '') fail(at(field), `the environment variable ${name} is not set`);
      return given as string;
    });
    const url = resolve(entry.source.url, 'source.url');
    if (!url.startsWith('sandbox:/') && !(URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))) {
      fail(at('source.url'), 'expected an http(s) URL, or sandbox:/PATH for the built-in sandbox');
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(entry.source.headers)) {
      if (SECRET_HEADER.test(name) && !value.match(REFERENCE)) fail(at(`source.headers.${name}`), 'a credential belongs in the environment, not in this file: write ${VARIABLE} (such as "Bearer ${SOURCE_TOKEN}") and set VARIABLE');
      headers[name] = resolve(value, `source.headers.${name}`);
    }

    for (const field of Object.keys(entry.fields)) {
      if (!declared.includes(field)) fail(at(`fields.${field}`), `not a data field of topic ${topic} in the broadcasts file (its fields: ${declared.join(', ') || 'none'})`);
    }
    if (entry.template !== undefined && !(content as TopicContent).templates.some((t) => t.name === entry.template)) {
      fail(at('template'), `topic ${topic} has no template "${entry.template}" (configured: ${(content as TopicContent).templates.map((t) => t.name).join(', ') || 'none'})`);
    }
    const unmapped = placeholdersUsed(content as TopicContent, entry.template).filter((name) => !(name in entry.fields));
    if (unmapped.length > 0) fail(at('fields'), `no path for ${unmapped.join(', ')} (used by the topic's session text or template)`);
    if (entry.version !== undefined && !(entry.version in entry.fields)) fail(at('version'), `"${entry.version}" is not one of the mapped fields (${Object.keys(entry.fields).join(', ')})`);

    topics.set(topic, Object.freeze({
      topic,
      schedule: schedule as CronSchedule,
      source: Object.freeze({ url, headers: Object.freeze(headers), timeoutMs: entry.source.timeoutMs }),
      fields: Object.freeze({ ...entry.fields }),
      ...(entry.version === undefined ? {} : { version: entry.version }),
      ...(entry.template === undefined ? {} : { template: entry.template }),
      graceMs: entry.graceMinutes * 60_000,
      ...(entry.budget === undefined ? {} : { budget: entry.budget }),
    }));
  }
  return { file: path, topics };
}
