import type { Config } from '../../config/index.js';
import { loadConversationConfig } from '../../config/topics.js';
import { JOBS, RECURRING } from '../../jobs/index.js';
import type { Clock } from '../domain/clock.js';
import { registerHealthRoutes, registerMetricsRoutes } from '../http/health-routes.js';
import { createMetrics } from '../http/metrics.js';
import { createHttpServer } from '../http/server.js';
import { registerWebhookRoutes } from '../http/webhook-routes.js';
import { ContactRepository } from '../store/contact-repository.js';
import { connectDatabase, ensureIndexes } from '../store/database.js';
import { INDEX_DECLARATIONS } from '../store/index-declarations.js';
import { startDatabaseServer } from '../store/server/local-server.js';
import { SuppressionRepository } from '../store/suppression-repository.js';
import { WebhookEventRepository } from '../store/webhook-event-repository.js';
import { cloudApiClientFromConfig } from '../whatsapp/cloud-api-client.js';
import { startSandbox, type Sandbox } from '../whatsapp/sandbox/sandbox-server.js';
import type { AppDeps } from './deps.js';
import { InboundProcessor } from './inbound-processor.js';
import { Releasers } from './lifecycle.js';
import type { Logger } from './logger.js';
import { createScheduler, type Scheduler } from './scheduler.js';
import { WebhookIngest } from './webhook-ingest.js';
import { whatsappReplies } from './whatsapp-replies.js';

export interface Worker {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:3000`. */
  url: string;
  deps: AppDeps;
  scheduler: Scheduler;
  /** The built-in WhatsApp sandbox, when WHATSAPP_API_BASE is not set. */
  sandbox: Sandbox | undefined;
  /** Stops everything in reverse order of start. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts the worker: database (a local one when none is configured), indexes, WhatsApp (the
 * sandbox when no API is configured), scheduler, HTTP. If a step fails, what was already
 * started is stopped again before the error is rethrown.
 */
export async function startWorker(config: Config, logger: Logger, clock: Clock): Promise<Worker> {
  const releasers = new Releasers(logger);
  try {
    if (config.whatsapp.apiBase === undefined) logger.info('WHATSAPP_API_BASE is not set: using the built-in WhatsApp sandbox');
    const conversation = loadConversationConfig(config.topicsFile);

    const server = await startDatabaseServer({ uri: config.database.uri, mode: 'local', dataDir: config.database.localDir, report: (line) => logger.info(line) });
    releasers.add('database server', () => server.stop());
    const database = await connectDatabase(server.uri, config.database.name);
    releasers.add('database connection', () => database.close());
    await ensureIndexes(database.db, INDEX_DECLARATIONS);

    let sandbox: Sandbox | undefined;
    if (config.whatsapp.apiBase === undefined) {
      sandbox = await startSandbox({
        clock,
        port: config.sandbox.port,
        token: config.whatsapp.token,
        phoneNumberId: config.whatsapp.phoneNumberId,
        appSecret: config.whatsapp.appSecret,
        mps: config.sandbox.mps,
        outsideWindow: config.sandbox.outsideWindow,
        logger: logger.child({ scope: 'sandbox' }),
      });
      releasers.add('whatsapp sandbox', () => sandbox!.stop());
      logger.info(`WhatsApp sandbox listening on ${sandbox.url} (simulate a contact: POST ${sandbox.url}/_sandbox/inbound)`);
    }
    const whatsapp = cloudApiClientFromConfig(config.whatsapp, logger.child({ scope: 'whatsapp' }), sandbox?.url);
    releasers.add('whatsapp client', async () => whatsapp.close());

    const metrics = createMetrics();
    const contacts = new ContactRepository(database.db);
    const suppressions = new SuppressionRepository(database.db, config.suppressionKey);
    const events = new WebhookEventRepository(database.db);
    const inbound = new InboundProcessor({
      events, contacts, suppressions, conversation, clock,
      replies: whatsappReplies(whatsapp),
      logger: logger.child({ scope: 'conversation' }),
      staleMs: config.jobs.lockLifetimeMs * 2,
    });
    const deps: AppDeps = { config, logger, clock, db: database.db, metrics, conversation, contacts, suppressions, events, whatsapp, inbound };

    const scheduler = createScheduler({
      db: database.db,
      logger: logger.child({ scope: 'jobs' }),
      pollIntervalMs: config.jobs.pollIntervalMs,
      lockLifetimeMs: config.jobs.lockLifetimeMs,
      jobs: JOBS,
      deps,
    });
    await scheduler.start();
    releasers.add('scheduler', () => scheduler.stop(Math.max(config.shutdownTimeoutMs - 2000, 1000)));
    for (const { name, every } of RECURRING) await scheduler.agenda.every(every, name);
    releasers.add('inbound handling', () => inbound.idle());

    const ingest = new WebhookIngest(contacts, events, clock);
    const http = createHttpServer({ logger: logger.child({ scope: 'http' }), metrics, bodyLimit: config.webhook.bodyLimitBytes });
    registerHealthRoutes(http, { db: database.db, metrics, schedulerState: scheduler.state, timeoutMs: config.healthDbTimeoutMs });
    registerMetricsRoutes(http, metrics);
    registerWebhookRoutes(http, {
      verifyToken: config.whatsapp.verifyToken,
      appSecret: config.whatsapp.appSecret,
      bodyLimit: config.webhook.bodyLimitBytes,
      logger: logger.child({ scope: 'webhook' }),
      metrics,
      ingest: (parsed) => ingest.ingest(parsed),
      afterIngest: (summary) => {
        if (summary.messages > 0) inbound.kick();
      },
    });
    await http.listen({ host: config.http.host, port: config.http.port });
    releasers.add('http server', () => http.close());

    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
    sandbox?.setWebhookUrl(`${url}/webhooks/whatsapp`);
    logger.info(`worker listening on ${url}`, { healthz: `${url}/healthz`, metrics: `${url}/metrics`, webhook: `${url}/webhooks/whatsapp` });
    return { url, deps, scheduler, sandbox, stop: () => releasers.releaseAll() };
  } catch (err) {
    await releasers.releaseAll();
    throw err;
  }
}
