import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError } from '../src/domain/errors.js';
import type { KeeperPolicy } from '../src/domain/keeper-policy.js';
import type { QuietHours } from '../src/domain/quiet-hours.js';
import { SANDBOX_CREDENTIALS, VARIABLES, type VariableName, type VariableSpec } from './variables.js';

export { VARIABLES, SANDBOX_CREDENTIALS } from './variables.js';

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly log: { readonly level: string; readonly pii: boolean };
  readonly database: { readonly uri: string | undefined; readonly name: string; readonly localDir: string; readonly localMaxHeap: string };
  readonly http: { readonly host: string; readonly port: number };
  readonly whatsapp: {
    /** Undefined: run against the built-in sandbox. */
    readonly apiBase: string | undefined;
    readonly apiVersion: string;
    readonly token: string;
    readonly phoneNumberId: string;
    readonly appSecret: string;
    readonly verifyToken: string;
    /** Per Cloud API request. */
    readonly timeoutMs: number;
    readonly maxSockets: number;
  };
  /** The built-in WhatsApp sandbox, used when `whatsapp.apiBase` is undefined. */
  readonly sandbox: {
    readonly port: number;
    /** 0: no limit. */
    readonly mps: number;
    readonly outsideWindow: 'error' | 'failed-status';
    /** How long a webhook not answered with 2xx is retried; 0: not at all. */
    readonly webhookRetryForMs: number;
    /** How untidy its webhooks are: statuses per POST, read before delivered, duplicated and delayed POSTs. */
    readonly quirks: { readonly statusBatch: number; readonly outOfOrder: number; readonly duplicates: number; readonly delayMs: number };
  };
  readonly suppressionKey: string;
  /** `EXPORT_PSEUDONYM_KEY`: needed only by `npm run export -- --pseudonymize`. */
  readonly exportPseudonymKey: string | undefined;
  readonly webhook: { readonly bodyLimitBytes: number; readonly retentionDays: number; readonly maxClockSkewMs: number };
  readonly broadcastsFile: string;
  readonly rateCardFile: string;
  /** The daily runs (`DAILY_RUNS_FILE`); read it with `loadDailyRuns` from `config/daily-runs.ts`. */
  readonly dailyRunsFile: string;
  /** The environment as read (the real one over `.env`): where `${NAME}` in DAILY_RUNS_FILE is taken from. */
  readonly environment: Readonly<Record<string, string>>;
  readonly fanOut: {
    readonly budget: number;
    readonly safetyMarginMs: number;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly maxAttempts: number;
    readonly unknownAfterMs: number;
  };
  readonly timezone: string;
  readonly sendRateMps: number;
  readonly jobs: { readonly pollIntervalMs: number; readonly lockLifetimeMs: number };
  readonly healthDbTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** The topics file (`TOPICS_FILE`); read it with `loadConversationConfig` from `config/topics.ts`. */
  readonly topicsFile: string;
  /** The window keeper (see `decideNudge` in `src/domain/keeper-policy.ts`). */
  readonly keeper: {
    readonly policy: KeeperPolicy;
    /** Always larger than `fanOut.safetyMarginMs` (refused at start otherwise). */
    readonly nudgeBeforeCloseMs: number;
    /** How often a keeper pass runs; with `nudgeLookaheadMs` it says how far ahead a pass looks. */
    readonly intervalMs: number;
    /** Read on the clock of `timezone`; undefined: none. */
    readonly quietHours: QuietHours | undefined;
  };
  /** Pruning (see `decidePrune` in `src/domain/pruning.ts`); 0 turns a rule off. */
  readonly pruning: { readonly afterDays: number; readonly afterUnansweredTemplates: number };
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads a `.env` file if there is one. Its values never override the real environment. */
export function readEnvFile(path = '.env'): Record<string, string> {
  try {
    return parseDotenv(readFileSync(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function describeValue(name: string, spec: VariableSpec, raw: string): string {
  return spec.secret ? `${name}=<hidden>` : `${name}=${JSON.stringify(raw)}`;
}

/**
 * Validates the environment once and returns a frozen, typed configuration.
 * An empty string counts as unset. Every bad value is reported in one line:
 * `PORT="abc" (expected an integer from 0 to 65535)`.
 */
export function loadConfig(env: Env, envFile: Env = {}): Config {
  const values: Partial<Record<VariableName, unknown>> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(VARIABLES) as [VariableName, VariableSpec][]) {
    const given = env[name] ?? envFile[name];
    const raw = given === undefined || given.trim() === '' ? spec.default : given.trim();
    if (raw === undefined) continue;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(`${describeValue(name, spec, raw)} (expected ${spec.expected})`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);

  const v = values as {
    NODE_ENV: Config['env']; LOG_LEVEL: string; LOG_PII: boolean; MONGODB_URI?: string; MONGODB_DB: string;
    LOCAL_DB_DIR: string; LOCAL_DB_MAX_HEAP: string; HOST?: string; PORT: number; WHATSAPP_API_BASE?: string; WHATSAPP_API_VERSION: string;
    WHATSAPP_TOKEN: string; WHATSAPP_PHONE_NUMBER_ID: string; WHATSAPP_APP_SECRET: string;
    WHATSAPP_VERIFY_TOKEN: string; WHATSAPP_TIMEOUT_MS: number; WHATSAPP_MAX_SOCKETS: number; SANDBOX_PORT: number;
    SANDBOX_MPS: number; SANDBOX_OUTSIDE_WINDOW: 'error' | 'failed-status'; SANDBOX_WEBHOOK_RETRY_FOR_MS: number; SANDBOX_STATUS_BATCH: number; SANDBOX_OUT_OF_ORDER: number; SANDBOX_DUPLICATE_WEBHOOKS: number; SANDBOX_WEBHOOK_DELAY_MS: number; APP_TIMEZONE: string; SEND_RATE_MPS: number; JOB_POLL_INTERVAL_MS: number; JOB_LOCK_LIFETIME_MS: number;
    HEALTH_DB_TIMEOUT_MS: number; SHUTDOWN_TIMEOUT_MS: number; KEEPER_POLICY: KeeperPolicy; NUDGE_BEFORE_CLOSE_MS: number; KEEPER_INTERVAL_MS: number; QUIET_HOURS: QuietHours | undefined; PRUNE_AFTER_DAYS: number; PRUNE_AFTER_UNANSWERED_TEMPLATES: number; TOPICS_FILE: string; SUPPRESSION_KEY: string; EXPORT_PSEUDONYM_KEY?: string; WEBHOOK_BODY_LIMIT_BYTES: number; WEBHOOK_RETENTION_DAYS: number; WEBHOOK_MAX_CLOCK_SKEW_MS: number; BROADCASTS_FILE: string; RATE_CARD_FILE: string; PUBLISH_BUDGET: number; SEND_SAFETY_MARGIN_MS: number; FANOUT_BATCH_SIZE: number; FANOUT_CONCURRENCY: number; SEND_MAX_ATTEMPTS: number; DELIVERY_UNKNOWN_AFTER_MS: number;
  };

  if (v.NUDGE_BEFORE_CLOSE_MS <= v.SEND_SAFETY_MARGIN_MS) {
    throw new ConfigError(
      `invalid configuration: NUDGE_BEFORE_CLOSE_MS=${JSON.stringify(String(v.NUDGE_BEFORE_CLOSE_MS))} (expected more than SEND_SAFETY_MARGIN_MS=${v.SEND_SAFETY_MARGIN_MS}: a nudge sent then would land inside the safety margin and never go out)`,
    );
  }

  if (v.WHATSAPP_API_BASE !== undefined) {
    const defaults: [VariableName, string, string][] = [
      ['WHATSAPP_TOKEN', v.WHATSAPP_TOKEN, SANDBOX_CREDENTIALS.token],
      ['WHATSAPP_APP_SECRET', v.WHATSAPP_APP_SECRET, SANDBOX_CREDENTIALS.appSecret],
      ['WHATSAPP_VERIFY_TOKEN', v.WHATSAPP_VERIFY_TOKEN, SANDBOX_CREDENTIALS.verifyToken],
      ['SUPPRESSION_KEY', v.SUPPRESSION_KEY, SANDBOX_CREDENTIALS.suppressionKey],
    ];
    const stillSandbox = defaults.filter(([, value, sandbox]) => value === sandbox).map(([name]) => name);
    if (stillSandbox.length > 0) {
      throw new ConfigError(
        `invalid configuration: ${stillSandbox.join(', ')} still hold the sandbox value although WHATSAPP_API_BASE=${JSON.stringify(v.WHATSAPP_API_BASE)} points at a real API (expected your own credentials)`,
      );
    }
  }

  return deepFreeze({
    env: v.NODE_ENV,
    log: { level: v.LOG_LEVEL, pii: v.LOG_PII },
    database: { uri: v.MONGODB_URI, name: v.MONGODB_DB, localDir: v.LOCAL_DB_DIR, localMaxHeap: v.LOCAL_DB_MAX_HEAP },
    // With the built-in sandbox the app secret is the public default: anyone who can reach the
    // port could sign webhooks, so only this machine may, unless HOST says otherwise.
    http: { host: v.HOST ?? (v.WHATSAPP_API_BASE === undefined ? '127.0.0.1' : '0.0.0.0'), port: v.PORT },
    whatsapp: {
      apiBase: v.WHATSAPP_API_BASE?.replace(/\/+$/, ''),
      apiVersion: v.WHATSAPP_API_VERSION,
      token: v.WHATSAPP_TOKEN,
      phoneNumberId: v.WHATSAPP_PHONE_NUMBER_ID,
      appSecret: v.WHATSAPP_APP_SECRET,
      verifyToken: v.WHATSAPP_VERIFY_TOKEN,
      timeoutMs: v.WHATSAPP_TIMEOUT_MS,
      maxSockets: v.WHATSAPP_MAX_SOCKETS,
    },
    sandbox: {
      port: v.SANDBOX_PORT,
      mps: v.SANDBOX_MPS,
      outsideWindow: v.SANDBOX_OUTSIDE_WINDOW,
      webhookRetryForMs: v.SANDBOX_WEBHOOK_RETRY_FOR_MS,
      quirks: { statusBatch: v.SANDBOX_STATUS_BATCH, outOfOrder: v.SANDBOX_OUT_OF_ORDER, duplicates: v.SANDBOX_DUPLICATE_WEBHOOKS, delayMs: v.SANDBOX_WEBHOOK_DELAY_MS },
    },
    suppressionKey: v.SUPPRESSION_KEY,
    exportPseudonymKey: v.EXPORT_PSEUDONYM_KEY,
    webhook: { bodyLimitBytes: v.WEBHOOK_BODY_LIMIT_BYTES, retentionDays: v.WEBHOOK_RETENTION_DAYS, maxClockSkewMs: v.WEBHOOK_MAX_CLOCK_SKEW_MS },
    broadcastsFile: v.BROADCASTS_FILE,
    rateCardFile: v.RATE_CARD_FILE,
    dailyRunsFile: values.DAILY_RUNS_FILE as string,
    environment: mergedEnvironment(env, envFile),
    fanOut: {
      budget: v.PUBLISH_BUDGET,
      safetyMarginMs: v.SEND_SAFETY_MARGIN_MS,
      batchSize: v.FANOUT_BATCH_SIZE,
      concurrency: v.FANOUT_CONCURRENCY,
      maxAttempts: v.SEND_MAX_ATTEMPTS,
      unknownAfterMs: v.DELIVERY_UNKNOWN_AFTER_MS,
    },
    timezone: v.APP_TIMEZONE,
    sendRateMps: v.SEND_RATE_MPS,
    jobs: { pollIntervalMs: v.JOB_POLL_INTERVAL_MS, lockLifetimeMs: v.JOB_LOCK_LIFETIME_MS },
    healthDbTimeoutMs: v.HEALTH_DB_TIMEOUT_MS,
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT_MS,
    topicsFile: v.TOPICS_FILE,
    keeper: {
      policy: v.KEEPER_POLICY,
      nudgeBeforeCloseMs: v.NUDGE_BEFORE_CLOSE_MS,
      intervalMs: v.KEEPER_INTERVAL_MS,
      quietHours: v.QUIET_HOURS,
    },
    pruning: { afterDays: v.PRUNE_AFTER_DAYS, afterUnansweredTemplates: v.PRUNE_AFTER_UNANSWERED_TEMPLATES },
  });
}

/** Every variable given, the real environment winning over `.env` (as for the variables above). */
function mergedEnvironment(env: Env, envFile: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of new Set([...Object.keys(envFile), ...Object.keys(env)])) {
    const value = env[name] ?? envFile[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
