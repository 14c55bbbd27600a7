import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The worker's metrics, in a registry of its own (no global state). */
export interface Metrics {
  registry: Registry;
  databaseUp: Gauge;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    databaseUp: new Gauge({ name: 'optin_database_up', help: '1 when the last database check succeeded', registers: [registry] }),
    httpRequests: new Counter({
      name: 'optin_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'optin_http_request_duration_seconds',
      help: 'time to answer an HTTP request',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
