import { getHeapStatistics } from 'node:v8';
import type { Config } from '../../config/index.js';
import type { Clock } from '../domain/clock.js';
import { ConfigError } from '../domain/errors.js';
import { chooseLanguage } from '../domain/language.js';
import { nudgeButtons } from '../domain/nudge-message.js';
import type { RateCard } from '../domain/pricing.js';
import { registerHealthRoutes, registerMetricsRoutes } from '../http/health-routes.js';
import { createKeeperMetrics } from '../http/keeper-metrics.js';
import { createMetrics, registerBroadcastMetrics } from '../http/metrics.js';
import { createHttpServer } from '../http/server.js';
import { registerSubscriberMetrics } from '../http/subscriber-metrics.js';
import { registerWebhookRoutes } from '../http/webhook-routes.js';
import { contactTopicIndexes } from '../store/contact-repository.js';
import { ensureIndexes } from '../store/database.js';
import { IdentityChangeRepository } from '../store/identity-change-repository.js';
import { WebhookBatchRepository } from '../store/webhook-batch-repository.js';
import { SandboxStateRepository } from '../store/sandbox-state-repository.js';
import { SendPacer } from '../store/send-pacer.js';
import { cloudApiClientFromConfig } from '../whatsapp/cloud-api-client.js';
import { startSandbox, type Sandbox } from '../whatsapp/sandbox/sandbox-server.js';
import type { SandboxStore } from '../whatsapp/sandbox/sandbox-store.js';
import { openAppDatabase } from './app-database.js';
import { createDailyRuns, loadDailyRunSettings } from './daily-runs.js';
import type { AppDeps } from './deps.js';
import { FanOut } from './fan-out.js';
import { InboundProcessor } from './inbound-processor.js';
import { NumberChanges } from './number-changes.js';
import type { JobSet } from './job-definition.js';
import { Releasers } from './lifecycle.js';
import type { Logger } from './logger.js';
import { Pruner } from './pruner.js';
import { createScheduler, type Scheduler } from './scheduler.js';
import { buildServices, loadContentConfig } from './services.js';
import { StatusApplier } from './status-applier.js';
import { WebhookBatches } from './webhook-batches.js';
import { WebhookIngest } from './webhook-ingest.js';
import { whatsappReplies } from './whatsapp-replies.js';
import { WindowKeeper } from './window-keeper.js';

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
 * A port that cannot be listened on is a configuration problem: the error names the variable to
 * change instead of the system call (`listen EADDRINUSE: address already in use 0.0.0.0:3000`).
 */
function listenError(err: unknown, variable: 'PORT' | 'SANDBOX_PORT', host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const fix = variable === 'PORT' ? 'set PORT to a free port, or 0 to pick one' : 'set SANDBOX_PORT to a free port, or 0 to pick one';
  if (code === 'EADDRINUSE') return new ConfigError(`${variable}=${port}: the port is already in use on ${host} (${fix})`, { cause: err });
  if (code === 'EACCES') return new ConfigError(`${variable}=${port}: not allowed to listen on this port (${fix}; ports below 1024 need privileges)`, { cause: err });
  if (code === 'EADDRNOTAVAIL' && variable === 'PORT') return new ConfigError(`HOST=${JSON.stringify(host)} is not an address of this machine (expected an interface address such as 127.0.0.1 or 0.0.0.0)`, { cause: err });
  return err;
}

/** The built-in sandbox keeps its state in the worker's database, so a restart forgets no window, message or waiting webhook. */
async function startSandboxFor(config: Config, clock: Clock, logger: Logger, rateCard: RateCard, store: SandboxStore): Promise<Sandbox> {
  return startSandbox({
    clock,
    port: config.sandbox.port,
    token: config.whatsapp.token,
    phoneNumberId: config.whatsapp.phoneNumberId,
    appSecret: config.whatsapp.appSecret,
    mps: config.sandbox.mps,
    outsideWindow: config.sandbox.outsideWindow,
    quirks: config.sandbox.quirks,
    rateCard,
    webhookRetry: { forMs: config.sandbox.webhookRetryForMs },
    store,
    logger: logger.child({ scope: 'sandbox' }),
  }).catch((err: unknown) => {
    throw listenError(err, 'SANDBOX_PORT', '127.0.0.1', config.sandbox.port);
  });
}

/**
 * Starts the worker: database (a local one when none is configured), indexes, WhatsApp (the
 * sandbox when no API is configured), scheduler, HTTP. If a step fails, what was already
 * started is stopped again before the error is rethrown.
 */
export async function startWorker(config: Config, logger: Logger, clock: Clock, jobSet: JobSet<AppDeps>): Promise<Worker> {
  const releasers = new Releasers(logger);
  try {
    const content = loadContentConfig(config); // a mistake in a configuration file stops the start before anything runs
    const dailySettings = loadDailyRunSettings(config, content.contents, clock);
    if (config.whatsapp.apiBase === undefined) logger.info('WHATSAPP_API_BASE is not set: using the built-in WhatsApp sandbox');

    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());

    let sandbox: Sandbox | undefined;
    if (config.whatsapp.apiBase === undefined) {
      const started = await startSandboxFor(config, clock, logger, content.rateCard, new SandboxStateRepository(database.db));
      sandbox = started;
      releasers.add('whatsapp sandbox', () => started.stop());
      logger.info(`WhatsApp sandbox listening on ${started.url} (simulate a contact: POST ${started.url}/_sandbox/inbound)`);
    }
    const whatsapp = cloudApiClientFromConfig(config.whatsapp, logger.child({ scope: 'whatsapp' }), sandbox?.url);
    releasers.add('whatsapp client', async () => whatsapp.close());

    const services = buildServices(config, logger, clock, database.db, content);
    const metrics = createMetrics();
    const topics = content.conversation.topics.map((t) => t.id);
    await ensureIndexes(database.db, contactTopicIndexes(topics));
    const subscriberMetrics = registerSubscriberMetrics(metrics, services.contacts, topics, clock);
    // nudgedSince is left out until the window keeper's nudge records exist: nobody counts as nudged.
    const pruner = new Pruner({
      contacts: services.contacts,
      topics,
      settings: { ...config.pruning, pageSize: 500 },
      // A nudge since the last reply was a chance to answer, like a broadcast.
      nudgedSince: (contacts) => services.nudges.nudgedSince(contacts),
      onPruned: (topic, reason, count) => {
        subscriberMetrics.pruned(topic, reason, count);
        subscriberMetrics.invalidate();
      },
    });
    // The jobs need the deps and the deps need the scheduler: the deps are handed over once built.
    const scheduler = createScheduler<AppDeps>({
      db: database.db,
      logger: logger.child({ scope: 'jobs' }),
      pollIntervalMs: config.jobs.pollIntervalMs,
      lockLifetimeMs: config.jobs.lockLifetimeMs,
      jobs: jobSet.jobs,
    });
    // Registered at once: Agenda connects its backend from its constructor, and the database
    // connection may only close after that (stop waits for it, and for running jobs once started).
    releasers.add('scheduler', () => scheduler.stop(Math.max(config.shutdownTimeoutMs - 2000, 1000)));
    const queue = { scheduleBatch: (batchId: string, at: Date) => scheduler.scheduleUnique('fan-out-batch', { batchId }, 'batchId', at) };
    const inbound = new InboundProcessor({
      ...services, replies: whatsappReplies(whatsapp), logger: logger.child({ scope: 'conversation' }), staleMs: config.jobs.lockLifetimeMs * 2,
    });
    const keeperMetrics = createKeeperMetrics(metrics.registry);
    const statuses = new StatusApplier({
      ...services, queue, logger: logger.child({ scope: 'statuses' }),
      onNudgeFailed: async (id, code, reason) => {
        await services.nudges.markFailed(id, code, reason);
        keeperMetrics.nudges.inc({ outcome: 'failed', reason: code });
      },
    });
    // One pace for everything the worker sends in bulk: broadcasts and nudges.
    const pacer = new SendPacer(database.db, config.sendRateMps);
    const fanOut = new FanOut({
      ...services,
      messenger: whatsapp,
      pacer,
      queue,
      logger: logger.child({ scope: 'fan-out' }),
      settings: {
        batchSize: config.fanOut.batchSize,
        safetyMarginMs: config.fanOut.safetyMarginMs,
        maxAttempts: config.fanOut.maxAttempts,
        rateCard: content.rateCard,
        slotsPerReservation: Math.max(1, Math.min(100, Math.ceil(config.sendRateMps / 4))),
        concurrency: config.fanOut.concurrency,
      },
      onOutcome: (kind, outcome) => metrics.deliveries.inc({ kind, outcome: outcome.split(':')[0] ?? outcome }),
      sessionButtons: {
        for: (topicId, contact) => {
          const topic = content.conversation.topics.find((t) => t.id === topicId);
          return topic?.broadcastCarriesNudgeButtons ? nudgeButtons(topic, chooseLanguage(contact.language, contact.phone), content.conversation) : undefined;
        },
        // The news carried the nudge's buttons: that window needs no separate nudge.
        sent: async (topicId, contact) => {
          if (contact.lastInboundAt) await services.nudges.claim({ contactKey: contact.key, windowOf: contact.lastInboundAt, topic: topicId, state: 'carried' }, clock.now());
        },
      },
    });

    const numberChanges = new NumberChanges({ ...services, changes: new IdentityChangeRepository(database.db), logger: logger.child({ scope: 'identities' }) });
    const ingest = new WebhookIngest(
      services.contacts, services.events, (people, now) => services.people.resolve(people, now),
      (changes, now) => numberChanges.apply(changes, now), clock,
      { phoneNumberIds: [config.whatsapp.phoneNumberId], maxClockSkewMs: config.webhook.maxClockSkewMs },
      (stored) => statuses.accept(stored),
      async (replies) => {
        const answered = await services.nudges.recordReplies(replies);
        if (answered > 0) keeperMetrics.nudgeReplies.inc(answered);
      },
    );
    const keeper = new WindowKeeper({
      ...services,
      messenger: whatsapp,
      pacer,
      logger: logger.child({ scope: 'keeper' }),
      settings: {
        ...config.keeper,
        safetyMarginMs: config.fanOut.safetyMarginMs,
        timeZone: config.timezone,
        concurrency: config.fanOut.concurrency,
        slotsPerReservation: Math.max(1, Math.min(100, Math.ceil(config.sendRateMps / 4))),
      },
      onNudge: (outcome, reason) => keeperMetrics.nudges.inc({ outcome, reason }),
    });
    const webhookBatches = new WebhookBatches(
      new WebhookBatchRepository(database.db), ingest, clock, logger.child({ scope: 'webhook' }),
      { leaseMs: config.jobs.lockLifetimeMs, maxEventsPerStore: 1000 },
      (summary) => {
        if (summary.messages > 0) inbound.kick();
      },
    );
    const daily = createDailyRuns({ services, scheduler, settings: dailySettings, sandboxUrl: sandbox?.url, metrics, logger });
    const deps: AppDeps = { ...services, metrics, inbound, statuses, fanOut, scheduler, webhookBatches, daily, keeper, pruner };
    scheduler.setDeps(deps);
    const started = scheduler;
    registerBroadcastMetrics(metrics, services.broadcasts, services.deliveries);
    releasers.add('inbound and status handling', async () => {
      await inbound.stop();
      await statuses.stop();
    });
    // Stopped after the HTTP server (registered later), before the handling it feeds. The HTTP
    // server listens before the jobs start; what a webhook stores before then waits for them.
    releasers.add('webhook event storing', () => webhookBatches.stop());

    const http = createHttpServer({ logger: logger.child({ scope: 'http' }), metrics, bodyLimit: config.webhook.bodyLimitBytes });
    registerHealthRoutes(http, { db: database.db, metrics, schedulerState: started.state, timeoutMs: config.healthDbTimeoutMs, failingDailyRuns: () => daily.failing() });
    registerMetricsRoutes(http, metrics);
    registerWebhookRoutes(http, {
      verifyToken: config.whatsapp.verifyToken,
      appSecret: config.whatsapp.appSecret,
      bodyLimit: config.webhook.bodyLimitBytes,
      logger: logger.child({ scope: 'webhook' }),
      metrics,
      receive: (raw, parsed) => webhookBatches.receive(raw, parsed),
    });
    try {
      await http.listen({ host: config.http.host, port: config.http.port });
    } catch (err) {
      await http.close();
      throw listenError(err, 'PORT', config.http.host, config.http.port);
    }
    releasers.add('http server', () => http.close());

    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const everywhere = config.http.host === '0.0.0.0' || config.http.host === '::';
    const url = `http://${everywhere ? '127.0.0.1' : config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
    sandbox?.setWebhookUrl(`${url}/webhooks/whatsapp`);
    // The jobs start once the sandbox knows where to send webhooks: a message sent before would get
    // no status webhooks (and a delivery would stay `sent`).
    await started.start();
    for (const { name, every } of jobSet.recurring) await started.agenda.every(typeof every === 'function' ? every(config) : every, name);
    await daily.start(); // catches up on a slot missed while no worker ran
    releasers.add('daily-run tick', () => daily.stop());
    // The URL is where to reach it from this machine; `listening` says who else can.
    const listening = everywhere ? `all interfaces (HOST=${config.http.host})` : `${config.http.host} only`;
    // The heap node may grow to (npm start caps it; NODE_OPTIONS=--max-old-space-size=N raises it).
    const heapLimitMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
    logger.info(`worker listening on ${url}`, { listening, healthz: `${url}/healthz`, metrics: `${url}/metrics`, webhook: `${url}/webhooks/whatsapp`, heapLimitMb });
    return { url, deps, scheduler: started, sandbox, stop: () => releasers.releaseAll() };
  } catch (err) {
    await releasers.releaseAll();
    throw err;
  }
}
