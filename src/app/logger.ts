import winston from 'winston';
import { maskPhone } from '../domain/mask-phone.js';

export type { Logger } from '../domain/logger.js';

/** The root logger: a `Logger` that the entry point also flushes (`end`) before exiting. */
export type RootLogger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /** JSON lines (production) or readable colourised lines (development). */
  json: boolean;
  /** When false, fields that hold phone numbers are masked and message texts dropped. */
  pii: boolean;
  /** Extra fields on every line, e.g. `{ service: 'worker' }`. */
  defaultMeta?: Record<string, unknown>;
  /** Where lines go; defaults to the console (stdout). Tests pass a stream to read them back. */
  stream?: NodeJS.WritableStream;
}

/** Fields whose value is a phone number or WhatsApp id wherever they appear in log metadata. */
const PHONE_FIELDS = new Set(['phone', 'to', 'from', 'waId', 'wa_id', 'recipient_id', 'recipientId']);
/** Fields that carry what a person wrote or is sent. */
const TEXT_FIELDS = new Set(['text', 'body', 'messageText']);

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    if (typeof value !== 'string') continue;
    if (PHONE_FIELDS.has(key)) info[key] = maskPhone(value);
    else if (TEXT_FIELDS.has(key)) info[key] = `<${value.length} chars>`;
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
