import type { Config } from '../../config/index.js';
import { JOBS } from '../../jobs/index.js';
import type { Clock } from '../domain/clock.js';
import { registerHealthRoutes, registerMetricsRoutes } from '../http/health-routes.js';
import { createMetrics } from '../http/metrics.js';
import { createHttpServer } from '../http/server.js';
import { connectDatabase, ensureIndexes } from '../store/database.js';
import { INDEX_DECLARATIONS } from '../store/index-declarations.js';
import { startDatabaseServer } from '../store/server/local-server.js';
import type { AppDeps } from './deps.js';
import { Releasers } from './lifecycle.js';
import type { Logger } from './logger.js';
import { createScheduler, type Scheduler } from './scheduler.js';

export interface Worker {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:3000`. */
  url: string;
  deps: AppDeps;
  scheduler: Scheduler;
  /** Stops everything in reverse order of start. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts the worker: database (a local one when none is configured), indexes, scheduler, HTTP.
 * If a step fails, what was already started is stopped again before the error is rethrown.
 */
export async function startWorker(config: Config, logger: Logger, clock: Clock): Promise<Worker> {
  const releasers = new Releasers(logger);
  try {
    const server = await startDatabaseServer({
      uri: config.database.uri,
      mode: 'local',
      dataDir: config.database.localDir,
      report: (line) => logger.info(line),
    });
    releasers.add('database server', () => server.stop());

    const database = await connectDatabase(server.uri, config.database.name);
    releasers.add('database connection', () => database.close());
    await ensureIndexes(database.db, INDEX_DECLARATIONS);

    const metrics = createMetrics();
    const deps: AppDeps = { config, logger, clock, db: database.db, metrics };

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

    const http = createHttpServer({ logger: logger.child({ scope: 'http' }), metrics });
    registerHealthRoutes(http, { db: database.db, metrics, schedulerState: scheduler.state, timeoutMs: config.healthDbTimeoutMs });
    registerMetricsRoutes(http, metrics);
    await http.listen({ host: config.http.host, port: config.http.port });
    releasers.add('http server', () => http.close());

    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
    logger.info(`worker listening on ${url}`, { healthz: `${url}/healthz`, metrics: `${url}/metrics` });
    return { url, deps, scheduler, stop: () => releasers.releaseAll() };
  } catch (err) {
    await releasers.releaseAll();
    throw err;
  }
}
