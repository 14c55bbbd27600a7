import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import type { DeliveryRepository } from '../store/delivery-repository.js';

/** The worker's metrics, in a registry of its own (no global state). */
export interface Metrics {
  registry: Registry;
  databaseUp: Gauge;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  deliveries: Counter<'kind' | 'outcome'>;
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
    deliveries: new Counter({
      name: 'optin_deliveries_total',
      help: 'broadcast send attempts by this worker, by message kind (session, template) and outcome',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
  };
}

/** How many recent broadcasts the scrape reports on. */
const REPORTED_BROADCASTS = 10;

/**
 * Progress of the most recent broadcasts, read from the database at each scrape, so every
 * worker reports the same totals: deliveries per state, and estimated and reported cost.
 */
export function registerBroadcastMetrics(metrics: Metrics, broadcasts: BroadcastRepository, deliveries: DeliveryRepository): void {
  // Registered first and filled in its own collect(): prom-client writes metrics in registration order.
  const status = new Gauge({ name: 'optin_broadcast_status', help: '1 for each recent broadcast in its current status', labelNames: ['broadcast', 'topic', 'status'] });
  const cost = new Gauge({ name: 'optin_broadcast_cost', help: 'estimated cost of a recent broadcast, and billable messages Meta reported', labelNames: ['broadcast', 'topic', 'measure'] });
  const byState = new Gauge({
    name: 'optin_broadcast_deliveries',
    help: 'deliveries of a recent broadcast by state',
    labelNames: ['broadcast', 'topic', 'state'],
    registers: [metrics.registry],
    async collect() {
      byState.reset();
      cost.reset();
      status.reset();
      for (const broadcast of await broadcasts.recent(REPORTED_BROADCASTS)) {
        const labels = { broadcast: broadcast.id, topic: broadcast.topic };
        status.set({ ...labels, status: broadcast.status }, 1);
        const totals = await deliveries.totals(broadcast.id);
        for (const [state, n] of Object.entries(totals.byState)) byState.set({ ...labels, state }, n);
        cost.set({ ...labels, measure: 'estimated' }, totals.estimatedCost);
        cost.set({ ...labels, measure: 'billable_reported' }, totals.billable);
      }
    },
  });
  metrics.registry.registerMetric(status);
  metrics.registry.registerMetric(cost);
}
