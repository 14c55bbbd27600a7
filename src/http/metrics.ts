import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import type { DailyRunRepository } from '../store/daily-run-repository.js';
import type { DeliveryRepository } from '../store/delivery-repository.js';
import { scrapeSnapshot } from './scrape-snapshot.js';

/** The worker's metrics, in a registry of its own (no global state). */
export interface Metrics {
  registry: Registry;
  databaseUp: Gauge;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  deliveries: Counter<'kind' | 'outcome'>;
  /** Parts of webhook batches refused one by one (the rest of the batch was stored). */
  webhookRejected: Counter<'kind' | 'code'>;
  /** Webhook events for a business number this worker does not answer for. */
  webhookOtherNumber: Counter;
  /** Webhook events stored with something not believed (a timestamp far in the future). */
  webhookAnomalies: Counter<'anomaly'>;
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
    webhookRejected: new Counter({
      name: 'optin_webhook_events_rejected_total',
      help: 'parts of webhook batches refused one by one (recorded with the reason, the rest stored), by kind and reason code',
      labelNames: ['kind', 'code'],
      registers: [registry],
    }),
    webhookOtherNumber: new Counter({
      name: 'optin_webhook_events_other_number_total',
      help: 'webhook events for a phone_number_id other than WHATSAPP_PHONE_NUMBER_ID: acknowledged, not acted on',
      registers: [registry],
    }),
    webhookAnomalies: new Counter({
      name: 'optin_webhook_anomalies_total',
      help: 'webhook events stored with a value not believed: future_timestamp (later than the receive time plus WEBHOOK_MAX_CLOCK_SKEW_MS, stored at the receive time)',
      labelNames: ['anomaly'],
      registers: [registry],
    }),
  };
}

/** How many recent broadcasts the scrape reports on. */
const REPORTED_BROADCASTS = 10;

interface BroadcastSnapshot {
  labels: { broadcast: string; topic: string };
  status: string;
  byState: Record<string, number>;
  estimatedCost: number;
  billable: number;
}

/**
 * Progress of the most recent broadcasts, read from the database at each scrape, so every
 * worker reports the same totals: deliveries per state, status, estimated cost and the
 * messages Meta reported billable. prom-client collects metrics concurrently, so the three
 * gauges share one snapshot per scrape.
 */
export function registerBroadcastMetrics(metrics: Metrics, broadcasts: BroadcastRepository, deliveries: DeliveryRepository): void {
  const snapshot = scrapeSnapshot(async (): Promise<BroadcastSnapshot[]> => {
    const out: BroadcastSnapshot[] = [];
    for (const broadcast of await broadcasts.recent(REPORTED_BROADCASTS)) {
      const totals = await deliveries.totals(broadcast.id);
      out.push({ labels: { broadcast: broadcast.id, topic: broadcast.topic }, status: broadcast.status, byState: totals.byState, estimatedCost: totals.estimatedCost, billable: totals.billable });
    }
    return out;
  }, [], 500);
  const gauge = (name: string, help: string, label: string, fill: (set: (value: string, n: number, labels: BroadcastSnapshot['labels']) => void, b: BroadcastSnapshot) => void): void => {
    const g: Gauge = new Gauge({
      name,
      help,
      labelNames: ['broadcast', 'topic', label],
      registers: [metrics.registry],
      async collect() {
        const rows = await snapshot.get();
        g.reset();
        for (const row of rows) fill((value, n, labels) => g.set({ ...labels, [label]: value }, n), row);
      },
    });
  };
  gauge('optin_broadcast_status', '1 for each recent broadcast in its current status', 'status', (set, b) => set(b.status, 1, b.labels));
  gauge('optin_broadcast_deliveries', 'deliveries of a recent broadcast by state', 'state', (set, b) => {
    for (const [state, n] of Object.entries(b.byState)) set(state, n, b.labels);
  });
  gauge('optin_broadcast_cost', 'estimated cost of a recent broadcast, and the messages Meta reported billable', 'measure', (set, b) => {
    set('estimated', b.estimatedCost, b.labels);
    set('billable_messages_reported', b.billable, b.labels);
  });
}

interface DailyRunSnapshot {
  counts: { topic: string; outcome: string; runs: number }[];
  lastSuccess: { topic: string; at: Date }[];
}

/**
 * The daily runs, read from the database at each scrape like the broadcasts (every worker
 * reports the same figures, a restart loses none): finished runs per topic and outcome
 * (published, unchanged, failed, skipped-budget), and when each topic's last run that worked
 * (published or found nothing new) finished.
 */
export function registerDailyRunMetrics(metrics: Metrics, runs: DailyRunRepository, topics: readonly string[]): void {
  const snapshot = scrapeSnapshot(async (): Promise<DailyRunSnapshot> => {
    const lastSuccess: DailyRunSnapshot['lastSuccess'] = [];
    for (const topic of topics) {
      const at = await runs.lastSuccessAt(topic);
      if (at) lastSuccess.push({ topic, at });
    }
    return { counts: await runs.countByOutcome(), lastSuccess };
  }, { counts: [], lastSuccess: [] }, 500);
  const byOutcome: Gauge = new Gauge({
    name: 'optin_daily_runs',
    help: 'finished daily runs recorded in the database, by topic and outcome (published, unchanged, failed, skipped-budget)',
    labelNames: ['topic', 'outcome'],
    registers: [metrics.registry],
    async collect() {
      const { counts } = await snapshot.get();
      byOutcome.reset();
      for (const row of counts) byOutcome.set({ topic: row.topic, outcome: row.outcome }, row.runs);
    },
  });
  const lastSuccess: Gauge = new Gauge({
    name: 'optin_daily_run_last_success_timestamp_seconds',
    help: 'when the topic\'s last daily run that worked (published, or found nothing new) finished, in Unix seconds',
    labelNames: ['topic'],
    registers: [metrics.registry],
    async collect() {
      const rows = (await snapshot.get()).lastSuccess;
      lastSuccess.reset();
      for (const row of rows) lastSuccess.set({ topic: row.topic }, Math.round(row.at.getTime() / 1000));
    },
  });
}
