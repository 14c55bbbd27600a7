import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import type { Metrics } from './metrics.js';

export interface HealthDeps {
  db: Db;
  metrics: Metrics;
  schedulerState(): string;
  timeoutMs: number;
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

/** `GET /healthz`: 200 with database and scheduler state, 503 while the database is unreachable. */
export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', async (_request, reply) => {
    const database = await checkDatabase(deps.db, deps.timeoutMs);
    deps.metrics.databaseUp.set(database.state === 'up' ? 1 : 0);
    const ok = database.state === 'up';
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ok ? 'ok' : 'unavailable', database, scheduler: { state: deps.schedulerState() } });
  });
}

/** `GET /metrics`: Prometheus text format. */
export function registerMetricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(body);
  });
}
