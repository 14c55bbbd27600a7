import { z } from 'zod';
import { KEEPER_POLICIES } from '../src/domain/keeper-policy.js';
import { parseQuietHours } from '../src/domain/quiet-hours.js';

/**
 * Every environment variable the worker reads, in one table: its schema, its default,
 * whether it is a secret (never echoed in errors), and the line `.env.example` shows.
 * `loadConfig` validates against this table and a unit test keeps `.env.example` in step.
 */
export interface VariableSpec {
  schema: z.ZodType;
  /** The default as it would be written in `.env` (undefined: no default, optional). */
  default?: string;
  secret?: boolean;
  /** What is expected, in words, for error messages. */
  expected: string;
  description: string;
}

const integer = (min: number, max: number) =>
  z.coerce.number().int().min(min).max(max);

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const httpUrl = z.url({ protocol: /^https?$/ });

function isQuietHoursText(text: string): boolean {
  try {
    parseQuietHours(text);
    return true;
  } catch {
    return false;
  }
}

/** Sandbox credentials used when no real Cloud API is configured. Public by design. */
export const SANDBOX_CREDENTIALS = Object.freeze({
  token: 'sandbox-token',
  phoneNumberId: '100000000000001',
  appSecret: 'sandbox-app-secret',
  verifyToken: 'sandbox-verify-token',
  suppressionKey: 'sandbox-suppression-key',
});

export const VARIABLES = {
  NODE_ENV: {
    schema: z.enum(['development', 'production', 'test']),
    default: 'development',
    expected: 'one of development, production, test',
    description: 'production switches logs to JSON',
  },
  LOG_LEVEL: {
    schema: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug']),
    default: 'info',
    expected: 'one of error, warn, info, http, verbose, debug',
    description: 'lowest log level written',
  },
  LOG_PII: {
    schema: booleanFlag,
    default: 'false',
    expected: 'true or false',
    description: 'write full phone numbers and message texts to the log (debugging only)',
  },
  MONGODB_URI: {
    schema: z.string().regex(/^mongodb(\+srv)?:\/\/\S+$/, 'not a MongoDB connection string'),
    secret: true,
    expected: 'a mongodb:// or mongodb+srv:// connection string',
    description: 'database; unset: a local MongoDB-compatible server is started for you',
  },
  MONGODB_DB: {
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/),
    default: 'optin_broadcast',
    expected: 'a database name of letters, digits, _ or -',
    description: 'database name used inside that server',
  },
  LOCAL_DB_DIR: {
    schema: z.string().min(1),
    default: '.data',
    expected: 'a folder path',
    description: 'where the local database server keeps its data (only without MONGODB_URI)',
  },
  LOCAL_DB_MAX_HEAP: {
    schema: z.string().regex(/^[1-9][0-9]*[mMgG]$/),
    default: '512m',
    expected: 'a Java heap size such as 512m or 2g',
    description: 'heap cap of the local mongo-java-server, when that is the server started for you',
  },
  HOST: {
    schema: z.string().min(1),
    expected: 'an interface address such as 0.0.0.0 or 127.0.0.1',
    description: 'interface the HTTP server listens on; unset: 127.0.0.1 with the built-in sandbox (its app secret is public), 0.0.0.0 with WHATSAPP_API_BASE',
  },
  PORT: {
    schema: integer(0, 65535),
    default: '3000',
    expected: 'an integer from 0 to 65535',
    description: 'HTTP port for webhooks, health and metrics (0 picks a free one)',
  },
  WHATSAPP_API_BASE: {
    schema: httpUrl,
    expected: 'an http(s) URL such as https://graph.facebook.com',
    description: 'Graph API base URL; unset: the built-in WhatsApp sandbox',
  },
  WHATSAPP_API_VERSION: {
    schema: z.string().regex(/^v\d+\.\d+$/),
    default: 'v25.0',
    expected: 'a Graph API version such as v25.0',
    description: 'Graph API version in request paths',
  },
  WHATSAPP_TOKEN: {
    schema: z.string().min(1),
    default: SANDBOX_CREDENTIALS.token,
    secret: true,
    expected: 'a non-empty access token',
    description: 'Cloud API access token',
  },
  WHATSAPP_PHONE_NUMBER_ID: {
    schema: z.string().regex(/^\d{1,20}$/),
    default: SANDBOX_CREDENTIALS.phoneNumberId,
    expected: 'the numeric phone number id',
    description: 'Cloud API phone number id that sends',
  },
  WHATSAPP_APP_SECRET: {
    schema: z.string().min(1),
    default: SANDBOX_CREDENTIALS.appSecret,
    secret: true,
    expected: 'a non-empty app secret',
    description: 'verifies X-Hub-Signature-256 on webhooks',
  },
  WHATSAPP_VERIFY_TOKEN: {
    schema: z.string().min(1),
    default: SANDBOX_CREDENTIALS.verifyToken,
    secret: true,
    expected: 'a non-empty token',
    description: 'token expected in the webhook GET handshake',
  },
  WHATSAPP_TIMEOUT_MS: {
    schema: integer(100, 120000),
    default: '10000',
    expected: 'milliseconds from 100 to 120000',
    description: 'how long one Cloud API request may take before it counts as a timeout',
  },
  WHATSAPP_MAX_SOCKETS: {
    schema: integer(1, 1000),
    default: '50',
    expected: 'an integer from 1 to 1000',
    description: 'keep-alive connections the Cloud API client opens at most',
  },
  SANDBOX_PORT: {
    schema: integer(0, 65535),
    default: '0',
    expected: 'an integer from 0 to 65535',
    description: 'port of the built-in WhatsApp sandbox (only without WHATSAPP_API_BASE; 0 picks a free one)',
  },
  SANDBOX_MPS: {
    schema: z.coerce.number().min(0).max(100000),
    default: '80',
    expected: 'a number of messages per second, 0 for no limit',
    description: 'messages per second the sandbox accepts before answering 130429 (0: no limit)',
  },
  SANDBOX_OUTSIDE_WINDOW: {
    schema: z.enum(['error', 'failed-status']),
    default: 'failed-status',
    expected: 'error or failed-status',
    description: 'how the sandbox refuses a free-form message outside the window: accepted, then a failed status webhook with 131047 (as the platform does), or error 131047 at once',
  },
  SANDBOX_STATUS_BATCH: {
    schema: integer(1, 1000),
    default: '1',
    expected: 'an integer from 1 to 1000',
    description: 'statuses in one sandbox webhook POST at most: 1 as the platform sends them; more batches statuses that fall due together',
  },
  SANDBOX_OUT_OF_ORDER: {
    schema: z.coerce.number().min(0).max(1),
    default: '0',
    expected: 'a share from 0 to 1',
    description: 'share of the sandbox messages with delivered and read whose read status is posted before delivered',
  },
  SANDBOX_DUPLICATE_WEBHOOKS: {
    schema: z.coerce.number().min(0).max(1),
    default: '0',
    expected: 'a share from 0 to 1',
    description: 'share of the sandbox webhooks posted twice (same bytes and signature)',
  },
  SANDBOX_WEBHOOK_DELAY_MS: {
    schema: integer(0, 600_000),
    default: '0',
    expected: 'milliseconds from 0 to 600000',
    description: 'each sandbox webhook POST waits a random time up to this, so POSTs arrive out of order (0: none)',
  },
  SANDBOX_WEBHOOK_RETRY_FOR_MS: {
    schema: integer(0, 604_800_000),
    default: '86400000',
    expected: 'milliseconds from 0 to 604800000 (Meta retries for up to 7 days; 0: no retries)',
    description: 'how long the sandbox retries a webhook not answered with 2xx, waits doubling from 1 s up to 1 min (0: no retries)',
  },
  SUPPRESSION_KEY: {
    schema: z.string().min(16),
    default: SANDBOX_CREDENTIALS.suppressionKey,
    secret: true,
    expected: 'a secret of at least 16 characters',
    description: 'key of the hashes that remember opted-out numbers; changing it forgets every opt-out',
  },
  EXPORT_PSEUDONYM_KEY: {
    schema: z.string().min(16),
    secret: true,
    expected: 'a secret of at least 16 characters',
    description: 'key of the pseudonyms npm run export --pseudonymize writes instead of numbers and BSUIDs; the same key gives the same pseudonym in every export (needed only for --pseudonymize)',
  },
  WEBHOOK_BODY_LIMIT_BYTES: {
    schema: integer(1024, 64 * 1024 * 1024),
    default: String(4 * 1024 * 1024),
    expected: 'bytes from 1024 to 67108864',
    description: 'largest webhook body accepted (413 beyond); Meta batches up to 1,000 updates',
  },
  WEBHOOK_RETENTION_DAYS: {
    schema: integer(8, 3650),
    default: '30',
    expected: 'days from 8 to 3650 (Meta retries webhooks for up to 7 days)',
    description: 'how long handled webhook events are kept to recognise Meta\'s retries',
  },
  WEBHOOK_MAX_CLOCK_SKEW_MS: {
    schema: integer(0, 86_400_000),
    default: '300000',
    expected: 'milliseconds from 0 to 86400000',
    description: 'an inbound message timestamped later than its receipt plus this opens the window only up to the receive time (recorded and counted as an anomaly)',
  },
  BROADCASTS_FILE: {
    schema: z.string().min(1),
    default: 'config/broadcasts.json',
    expected: 'a file path',
    description: 'session text, data fields and templates of each topic\'s broadcasts',
  },
  RATE_CARD_FILE: {
    schema: z.string().min(1),
    default: 'config/rate-card.json',
    expected: 'a file path',
    description: 'price per message by category, country and effective date, for cost estimates',
  },
  DAILY_RUNS_FILE: {
    schema: z.string().min(1),
    default: 'config/daily-runs.json',
    expected: 'a file path',
    description: 'per topic: when the daily run fetches new data (cron, in APP_TIMEZONE), from where, and how the answer maps onto the topic\'s data fields',
  },
  PUBLISH_BUDGET: {
    schema: z.coerce.number().min(0),
    default: '50',
    expected: 'an amount of at least 0 in the rate card\'s currency',
    description: 'a broadcast estimated above this asks for confirmation (or --yes) before it is sent',
  },
  SEND_SAFETY_MARGIN_MS: {
    schema: integer(0, 3600000),
    default: '60000',
    expected: 'milliseconds from 0 to 3600000',
    description: 'a window closing within this counts as closed: the template is sent instead',
  },
  FANOUT_BATCH_SIZE: {
    schema: integer(1, 100000),
    default: '500',
    expected: 'an integer from 1 to 100000',
    description: 'subscribers per fan-out job; workers share a broadcast batch by batch',
  },
  FANOUT_CONCURRENCY: {
    schema: integer(1, 256),
    default: '8',
    expected: 'an integer from 1 to 256',
    description: 'requests in flight at once per fan-out job (the shared rate still holds)',
  },
  SEND_MAX_ATTEMPTS: {
    schema: integer(1, 50),
    default: '6',
    expected: 'an integer from 1 to 50',
    description: 'tries per message for transient errors before it counts as failed',
  },
  DELIVERY_UNKNOWN_AFTER_MS: {
    schema: integer(1000, 7 * 24 * 3600000),
    default: '600000',
    expected: 'milliseconds from 1000 to 604800000',
    description: 'a send whose worker died is marked unknown (not resent automatically) if no status came by then (checked every 15 s, or every quarter of this when shorter)',
  },
  APP_TIMEZONE: {
    schema: z.string().refine(isTimeZone, 'unknown time zone'),
    default: 'Europe/Berlin',
    expected: 'an IANA time zone such as Europe/Berlin',
    description: 'time zone for schedules and quiet hours',
  },
  SEND_RATE_MPS: {
    schema: z.coerce.number().positive().max(10000),
    default: '80',
    expected: 'a number of messages per second above 0',
    description: 'provider messages per second, all workers together',
  },
  JOB_POLL_INTERVAL_MS: {
    schema: integer(100, 600000),
    default: '1000',
    expected: 'milliseconds from 100 to 600000',
    description: 'how often the scheduler looks for due jobs',
  },
  JOB_LOCK_LIFETIME_MS: {
    schema: integer(1000, 3600000),
    default: '30000',
    expected: 'milliseconds from 1000 to 3600000',
    description: 'a running job renews its lock within this time; a dead worker\'s jobs are taken over after it',
  },
  HEALTH_DB_TIMEOUT_MS: {
    schema: integer(100, 60000),
    default: '2000',
    expected: 'milliseconds from 100 to 60000',
    description: 'how long /healthz waits for the database before answering 503',
  },
  TOPICS_FILE: {
    schema: z.string().min(1),
    default: 'config/topics.json',
    expected: 'a path to a JSON file',
    description: 'topics, keywords and conversation wording (German and English), relative to the working directory',
  },
  KEEPER_POLICY: {
    schema: z.enum(KEEPER_POLICIES),
    default: 'worth-it',
    expected: `one of ${KEEPER_POLICIES.join(', ')}`,
    description: 'window keeper: nudge every subscriber before their window closes (always), only when the expected saving pays for the nudge (worth-it), or never (off)',
  },
  NUDGE_BEFORE_CLOSE_MS: {
    schema: integer(1, 43_200_000),
    default: '300000',
    expected: 'milliseconds from 1 to 43200000, larger than SEND_SAFETY_MARGIN_MS',
    description: 'how long before a subscriber\'s window closes the nudge is sent (must be larger than SEND_SAFETY_MARGIN_MS)',
  },
  KEEPER_INTERVAL_MS: {
    schema: integer(1000, 3_600_000),
    default: '60000',
    expected: 'milliseconds from 1000 to 3600000',
    description: 'how often the window keeper looks for windows about to close',
  },
  QUIET_HOURS: {
    schema: z.string().refine(isQuietHoursText, 'not HH:MM-HH:MM').transform((text) => parseQuietHours(text)),
    default: '',
    expected: 'HH:MM-HH:MM such as 22:00-07:00 (may wrap midnight), or empty for none',
    description: 'no nudge in this daily period (in APP_TIMEZONE); one that would fall into it goes before it begins if the window is still open then, else not at all',
  },
  PRUNE_AFTER_DAYS: {
    schema: integer(0, 3650),
    default: '30',
    expected: 'days from 0 to 3650 (0: never by age)',
    description: 'a subscriber whose last reply is older than this, and who was sent something since, is removed from the list (0: never)',
  },
  PRUNE_AFTER_UNANSWERED_TEMPLATES: {
    schema: integer(0, 1000),
    default: '3',
    expected: 'an integer from 0 to 1000 (0: never by templates)',
    description: 'a subscriber who left this many paid templates in a row unanswered is removed from the list (0: never)',
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: integer(1000, 120000),
    default: '10000',
    expected: 'milliseconds from 1000 to 120000',
    description: 'how long a graceful stop may take before the process exits anyway',
  },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;
