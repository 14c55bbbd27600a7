import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../domain/logger.js';
import type { Metrics } from './metrics.js';

export interface HttpServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Largest request body accepted, in bytes (webhook batches of 1,000 updates are a few MiB). */
  bodyLimit?: number;
}

/** The worker's HTTP server, with request metrics and errors answered as JSON, never thrown. */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024, forceCloseConnections: true });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    options.metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    options.metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) options.logger.error('request failed', { method: request.method, url: request.routeOptions.url, err: err.message });
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message });
  });
  return app;
}
