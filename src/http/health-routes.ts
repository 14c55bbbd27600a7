import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import type { Metrics } from './metrics.js';

export interface HealthDeps {
  db: Db;
  metrics: Metrics;
  schedulerState(): string;
  timeoutMs: number;
  /** Topics whose latest daily run failed (read from the database). */
  failingDailyRuns?: () => Promise<readonly FailingDailyRun[]>;
}

export interface FailingDailyRun {
  topic: string;
  slot: string;
  reason: string;
  finishedAt?: string;
}

/** The daily runs' state for /healthz, or undefined when it could not be read in time. */
async function dailyRunHealth(deps: HealthDeps): Promise<{ state: 'ok' | 'failing'; failing: readonly FailingDailyRun[] } | { state: 'unknown'; error: string } | undefined> {
  if (!deps.failingDailyRuns) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const failing = await Promise.race([
      deps.failingDailyRuns(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deps.timeoutMs} ms`)), deps.timeoutMs);
      }),
    ]);
    return { state: failing.length > 0 ? 'failing' : 'ok', failing };
  } catch (err) {
    return { state: 'unknown', error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

type DatabaseCheck = { state: 'up'; latencyMs: number } | { state: 'down'; error: string };

/** Pings the database, giving up after `timeoutMs` so a probe never hangs. */
export async function checkDatabase(db: Db, timeoutMs: number): Promise<DatabaseCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([db.command({ ping: 1 }), timeout]);
    return { state: 'up', latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { state: 'down', error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /healthz`: 200 with database and scheduler state, 503 while the database is unreachable.
 * A topic whose latest daily run failed is listed under `dailyRuns.failing` and makes the status
 * `degraded`, still with 200: the worker itself is fine, a restart would not help.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', async (_request, reply) => {
    const database = await checkDatabase(deps.db, deps.timeoutMs);
    deps.metrics.databaseUp.set(database.state === 'up' ? 1 : 0);
    const ok = database.state === 'up';
    const dailyRuns = ok ? await dailyRunHealth(deps) : undefined;
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ok ? (dailyRuns?.state === 'failing' ? 'degraded' : 'ok') : 'unavailable', database, scheduler: { state: deps.schedulerState() }, ...(dailyRuns ? { dailyRuns } : {}) });
  });
}

/** `GET /metrics`: Prometheus text format. */
export function registerMetricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(body);
  });
}
