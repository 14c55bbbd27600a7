import winston from 'winston';
import { maskPhone, maskPhonesInText } from '../domain/mask-phone.js';

export type { Logger } from '../domain/logger.js';

/** The root logger: a `Logger` that the entry point also flushes (`end`) before exiting. */
export type RootLogger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /** JSON lines (production) or readable colourised lines (development). */
  json: boolean;
  /**
   * When false, no line holds a full phone number or a message text: phone numbers are masked
   * wherever they appear (any field, any depth, the message, error texts and stacks), and
   * fields that carry what a person wrote or is sent are replaced by their length.
   */
  pii: boolean;
  /** Extra fields on every line, e.g. `{ service: 'worker' }`. */
  defaultMeta?: Record<string, unknown>;
  /** Where lines go; defaults to the console (stdout). Tests pass a stream to read them back. */
  stream?: NodeJS.WritableStream;
}

/**
 * Fields whose value is a phone number or WhatsApp id wherever they appear in log metadata:
 * masked whatever their form (also short numbers, and numbers given as numbers).
 */
const PHONE_FIELDS = new Set(['phone', 'phones', 'to', 'from', 'waId', 'wa_id', 'recipient_id', 'recipientId', 'recipient', 'contactKey', 'msisdn']);
/**
 * Fields that carry what a person wrote or is sent (Cloud API and webhook bodies, rendered
 * content, template parameters, profile names): dropped, only their length is kept.
 */
const TEXT_FIELDS = new Set(['text', 'body', 'messageText', 'caption', 'sessionText', 'bodyParams', 'profileName', 'profile']);

/** A log field keeps this many characters (a stack trace: STACK_CHARS); the rest is replaced by its length. */
export const LOG_FIELD_CHARS = 2048;
const STACK_CHARS = 16_384;
/** Nested metadata: at most this many items per array or object, this deep. */
const LOG_ITEMS = 50;
const LOG_DEPTH = 4;

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more chars)` : text;
}

/** A copy of a log value with every string, list and object bounded; class instances other than errors pass as they are. */
function bounded(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return cut(value, LOG_FIELD_CHARS);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return cut(`${value.name}: ${value.message}`, LOG_FIELD_CHARS);
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const array = Array.isArray(value);
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (!array && prototype !== Object.prototype && prototype !== null) return value;
  if (depth >= LOG_DEPTH) return array ? `<list of ${(value as unknown[]).length}>` : '<object>';
  const entries = array ? (value as unknown[]).map((item, i) => [i, item] as const) : Object.entries(value);
  const kept = entries.slice(0, LOG_ITEMS).map(([key, item]) => [key, bounded(item, depth + 1)] as const);
  const more = entries.length - kept.length;
  if (array) return more > 0 ? [...kept.map(([, item]) => item), `… (${more} more)`] : kept.map(([, item]) => item);
  return Object.fromEntries(more > 0 ? [...kept, ['…', `${more} more fields`]] : kept);
}

/**
 * Bounds every field of a log line: one request must not be able to write a megabyte line
 * (a value from a webhook, an error message quoting its input).
 */
const bound = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    info[key] = key === 'stack' && typeof value === 'string' ? cut(value, STACK_CHARS) : bounded(value, 0);
  }
  return info;
});

/** What a text field becomes: its length, never its content. */
function hiddenText(value: unknown): unknown {
  if (typeof value === 'string') return `<${value.length} chars>`;
  return value === null || typeof value !== 'object' ? value : '<hidden>';
}

/**
 * A copy of a (bounded) log value without phone numbers or message texts. Strings are scanned
 * for anything that looks like a number (`maskPhonesInText`), keys too; values of PHONE_FIELDS
 * are masked whole, also numbers; other numbers are left alone (counts, durations, times in
 * ms). Items of a list count as fields of the list's name (`phones: [...]`).
 */
function redacted(value: unknown, field: string | undefined): unknown {
  if (field !== undefined && TEXT_FIELDS.has(field)) return hiddenText(value);
  const phoneField = field !== undefined && PHONE_FIELDS.has(field);
  if (typeof value === 'string') return phoneField ? maskPhone(value) : maskPhonesInText(value);
  if (typeof value === 'number' || typeof value === 'bigint') return phoneField ? maskPhone(String(value)) : value;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => redacted(item, field));
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return redacted(plainCopy(value), field);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [maskPhonesInText(key), redacted(item, key)]));
}

/** What JSON would write of an object that is not plain data (a class instance), as plain data. */
function plainCopy(value: object): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return '<not serialisable>';
  }
}

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    const value = redacted(info[key], key);
    const name = maskPhonesInText(key);
    if (name !== key) delete info[key];
    info[name] = value;
  }
  return info;
});

const readable = winston.format.printf((info) => {
  const { level, message, timestamp, scope, stack, service: _service, pid: _pid, ...rest } = info;
  const meta = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  const where = typeof scope === 'string' ? ` [${scope}]` : '';
  const trace = typeof stack === 'string' ? `\n${stack}` : '';
  return `${String(timestamp)} ${level}${where} ${String(message)}${meta}${trace}`;
});

/** The root logger. Make scoped loggers with `logger.child({ scope: 'http' })`. */
export function createLogger(options: LoggerOptions): RootLogger {
  const formats = [
    winston.format.errors({ stack: true }),
    bound(),
    ...(options.pii ? [] : [redact()]),
    winston.format.timestamp(),
    ...(options.json ? [winston.format.json()] : [winston.format.colorize(), readable]),
  ];
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: [] });
  return winston.createLogger({
    level: options.level,
    format: winston.format.combine(...formats),
    defaultMeta: options.defaultMeta,
    transports: [transport],
  });
}
