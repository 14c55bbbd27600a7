import { readFileSync } from 'node:fs';
import { loadConfig, readEnvFile, type Config } from '../config/index.js';
import { openAppDatabase, type AppDatabase } from '../src/app/app-database.js';
import { stopOnSignals } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { systemClock } from '../src/app/system-clock.js';
import { ConfigError } from '../src/domain/errors.js';
import { SandboxStateRepository } from '../src/store/sandbox-state-repository.js';
import { parseTemplates } from '../src/whatsapp/sandbox/approved-templates.js';
import { NO_QUIRKS, startSandbox, type SandboxOptions } from '../src/whatsapp/sandbox/sandbox-server.js';
import { MAX_RETRY_FOR_MS } from '../src/whatsapp/sandbox/webhook-retry.js';
import { runCommand, UsageError, type FlagValues } from './cli/run-command.js';

const HELP = `Usage: npm run sandbox -- [--port P] [--webhook URL] [options]

Runs the WhatsApp Cloud API sandbox alone: POST /{version}/{phone_number_id}/messages like the
Cloud API, signed status and inbound webhooks to --webhook, and the test endpoints
/_sandbox/inbound, /_sandbox/messages, /_sandbox/contacts, /_sandbox/reset, /_sandbox/webhook.
Token, phone number id and app secret come from the environment / .env like the worker's.

Options:
  --port P               port to listen on (default 3001; 0 picks a free one)
  --host H               interface (default 127.0.0.1)
  --webhook URL          where webhooks go, e.g. http://127.0.0.1:3000/webhooks/whatsapp
  --mps N                messages per second before 130429 (default SANDBOX_MPS, 80; 0: off)
  --pair-rate MS:BURST   per-contact limit before 131056 (default 6000:10; off: no limit)
  --latency MS|MIN-MAX   delay before every answer
  --failure-rate R       share of sends (0 to 1) answered with 131000 / HTTP 500
  --seed N               seed for latency, failures and statuses
  --outside-window M     a free-form message outside the window: failed-status (accepted, then a
                         failed status webhook with 131047, as the platform does) or error (131047
                         at once); default SANDBOX_OUTSIDE_WINDOW, failed-status
  --read-probability R   share of messages that get a read status (default 0.5)
  --status-batch N       statuses in one webhook POST at most (default SANDBOX_STATUS_BATCH, 1 as
                         the platform sends them; more batches statuses that fall due together)
  --out-of-order R       share of messages with delivered and read whose read is posted first
                         (default SANDBOX_OUT_OF_ORDER, 0)
  --duplicate-webhooks R share of webhooks posted twice (default SANDBOX_DUPLICATE_WEBHOOKS, 0)
  --webhook-delay MS     each webhook POST waits a random time up to MS, so POSTs overtake each
                         other (default SANDBOX_WEBHOOK_DELAY_MS, 0)
  --templates FILE       JSON array of {name, language, category, status, body?, quickReplies?}
  --webhook-retry-for MS how long a webhook not answered with 2xx is retried, waits doubling
                         from 1 s up to 1 min (default SANDBOX_WEBHOOK_RETRY_FOR_MS, 86400000:
                         24 h; at most 604800000, Meta's 7 days; 0: no retries)
  --persist              keep the state across restarts (windows, contacts, messages, webhooks
                         waiting for a retry) in the worker's database: MONGODB_URI /
                         MONGODB_DB, else the local server in LOCAL_DB_DIR; default: in memory

With --persist, POST /_sandbox/reset also clears what is kept.`;

const FLAGS = {
  port: { type: 'string' }, host: { type: 'string' }, webhook: { type: 'string' }, mps: { type: 'string' },
  'pair-rate': { type: 'string' }, latency: { type: 'string' }, 'failure-rate': { type: 'string' }, seed: { type: 'string' },
  'outside-window': { type: 'string' }, 'read-probability': { type: 'string' }, templates: { type: 'string' },
  'webhook-retry-for': { type: 'string' }, persist: { type: 'boolean' }, 'status-batch': { type: 'string' },
  'out-of-order': { type: 'string' }, 'duplicate-webhooks': { type: 'string' }, 'webhook-delay': { type: 'string' },
} as const;

function integer(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function ratio(name: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new UsageError(`--${name}: expected a number from 0 to 1, got ${JSON.stringify(raw)}`);
  return value;
}

function buildOptions(values: FlagValues<typeof FLAGS>, config: Config): Omit<SandboxOptions, 'clock' | 'logger'> {
  const options: Omit<SandboxOptions, 'clock' | 'logger'> = {
    port: values.port === undefined ? 3001 : integer('port', values.port, 0, 65535),
    host: values.host ?? '127.0.0.1',
    token: config.whatsapp.token,
    phoneNumberId: config.whatsapp.phoneNumberId,
    appSecret: config.whatsapp.appSecret,
    mps: values.mps === undefined ? config.sandbox.mps : integer('mps', values.mps, 0, 1_000_000),
    outsideWindow: config.sandbox.outsideWindow,
    webhookRetry: { forMs: values['webhook-retry-for'] === undefined ? config.sandbox.webhookRetryForMs : integer('webhook-retry-for', values['webhook-retry-for'], 0, MAX_RETRY_FOR_MS) },
    quirks: {
      statusBatch: values['status-batch'] === undefined ? config.sandbox.quirks.statusBatch : integer('status-batch', values['status-batch'], 1, 1000),
      outOfOrder: values['out-of-order'] === undefined ? config.sandbox.quirks.outOfOrder : ratio('out-of-order', values['out-of-order']),
      duplicates: values['duplicate-webhooks'] === undefined ? config.sandbox.quirks.duplicates : ratio('duplicate-webhooks', values['duplicate-webhooks']),
      delayMs: values['webhook-delay'] === undefined ? config.sandbox.quirks.delayMs : integer('webhook-delay', values['webhook-delay'], 0, 600_000),
    },
  };
  if (values.webhook !== undefined) {
    if (!URL.canParse(values.webhook) || !/^https?:$/.test(new URL(values.webhook).protocol)) throw new UsageError(`--webhook: expected an http(s) URL, got ${JSON.stringify(values.webhook)}`);
    options.webhookUrl = values.webhook;
  }
  const pair = values['pair-rate'];
  if (pair !== undefined) {
    const match = /^(\d+):(\d+)$/.exec(pair);
    if (pair !== 'off' && !match) throw new UsageError(`--pair-rate: expected MS:BURST such as 6000:10, or off, got ${JSON.stringify(pair)}`);
    options.pairRate = match ? { intervalMs: integer('pair-rate', match[1] ?? '', 1, 86_400_000), burst: integer('pair-rate', match[2] ?? '', 1, 100_000) } : false;
  }
  if (values.latency !== undefined) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(values.latency);
    if (!match) throw new UsageError(`--latency: expected MS or MIN-MAX, got ${JSON.stringify(values.latency)}`);
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : Number(match[2]);
    if (max < min) throw new UsageError(`--latency: MAX is below MIN in ${JSON.stringify(values.latency)}`);
    options.latencyMs = { min, max };
  }
  if (values['failure-rate'] !== undefined) options.failureRate = ratio('failure-rate', values['failure-rate']);
  if (values.seed !== undefined) options.seed = integer('seed', values.seed, 0, 2 ** 31 - 1);
  const mode = values['outside-window'];
  if (mode !== undefined) {
    if (mode !== 'error' && mode !== 'failed-status') throw new UsageError(`--outside-window: expected error or failed-status, got ${JSON.stringify(mode)}`);
    options.outsideWindow = mode;
  }
  if (values['read-probability'] !== undefined) options.statuses = { readProbability: ratio('read-probability', values['read-probability']) };
  if (values.templates !== undefined) {
    try {
      options.templates = parseTemplates(JSON.parse(readFileSync(values.templates, 'utf8')));
    } catch (err) {
      throw new UsageError(`--templates ${values.templates}: ${(err as Error).message}`);
    }
  }
  return options;
}

runCommand({ name: 'npm run sandbox', help: HELP, flags: FLAGS }, async ({ values }) => {
  const config = loadConfig(process.env, readEnvFile());
  const options = buildOptions(values, config);
  const logger = createLogger({ level: 'info', json: process.env.NODE_ENV === 'production', pii: false, defaultMeta: { service: 'sandbox' } });
  const database: AppDatabase | undefined = values.persist ? await openAppDatabase(config, logger) : undefined;
  const sandbox = await startSandbox({ ...options, clock: systemClock, logger, store: database && new SandboxStateRepository(database.db) }).catch(async (err: unknown) => {
    await database?.close();
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new ConfigError(`--port ${options.port ?? ''}: the port is already in use on ${options.host ?? '127.0.0.1'} (choose another with --port, or 0 to pick a free one)`, { cause: err });
  });
  const kept = database ? `kept in database ${config.database.name}` : 'in memory';
  const q = { ...NO_QUIRKS, ...options.quirks };
  const quirks = [q.statusBatch > 1 && `up to ${q.statusBatch} statuses per POST`, q.outOfOrder > 0 && `read before delivered ${q.outOfOrder}`, q.duplicates > 0 && `duplicates ${q.duplicates}`, q.delayMs > 0 && `delays up to ${q.delayMs} ms`].filter(Boolean);
  console.log(`WhatsApp sandbox listening on ${sandbox.url} (webhooks: ${options.webhookUrl ?? 'none'}, mps: ${options.mps === 0 ? 'off' : String(options.mps)}, state: ${kept}, outside window: ${options.outsideWindow ?? 'failed-status'}${quirks.length > 0 ? `, ${quirks.join(', ')}` : ''})`);
  // Runs until a signal has stopped it.
  return new Promise<number>((resolve) => {
    const remove = stopOnSignals(
      async () => {
        await sandbox.stop();
        await database?.close();
        remove();
        resolve(0);
      },
      logger,
      10_000,
    );
  });
});
