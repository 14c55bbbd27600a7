import { Counter, Gauge } from 'prom-client';
import type { Clock } from '../domain/clock.js';
import { PRUNE_REASONS, type PruneReason } from '../domain/pruning.js';
import type { TopicCounts } from '../store/contact-repository.js';
import type { Metrics } from './metrics.js';
import { scrapeSnapshot } from './scrape-snapshot.js';

/** Subscriber counts change slowly: a scrape reuses counts read within this long (a pass that pruned reads them again). */
const COUNTS_TTL_MS = 30_000;

export interface SubscriberMetrics {
  /** Counts subscriptions a pruning pass of this worker ended. */
  pruned(topic: string, reason: PruneReason, count: number): void;
  /** The next scrape reads the subscriber counts again. */
  invalidate(): void;
}

/**
 * `optin_contacts_pruned_total{topic,reason}`: subscriptions this worker's pruning passes ended
 * (summed across workers by Prometheus; every topic and reason starts at 0).
 * `optin_subscribers{topic,state}`: each topic's subscription records by state, read from the
 * database on scrape (every worker reports the same) on the topic's index, kept for 30 s.
 */
export function registerSubscriberMetrics(metrics: Metrics, counts: { topicCounts(topic: string, now: Date): Promise<TopicCounts> }, topics: readonly string[], clock: Clock): SubscriberMetrics {
  const prunedTotal = new Counter({
    name: 'optin_contacts_pruned_total',
    help: 'subscriptions ended by this worker\'s pruning passes, by topic and reason (no-reply: last reply older than PRUNE_AFTER_DAYS; unanswered-templates: PRUNE_AFTER_UNANSWERED_TEMPLATES paid templates in a row unanswered)',
    labelNames: ['topic', 'reason'],
    registers: [metrics.registry],
  });
  for (const topic of topics) for (const reason of PRUNE_REASONS) prunedTotal.inc({ topic, reason }, 0);

  const snapshot = scrapeSnapshot(async () => {
    const now = clock.now();
    return Promise.all(topics.map(async (topic) => ({ topic, counts: await counts.topicCounts(topic, now) })));
  }, [] as { topic: string; counts: TopicCounts }[], COUNTS_TTL_MS);
  const subscribers: Gauge = new Gauge({
    name: 'optin_subscribers',
    help: 'subscription records per topic by state: active_window_open / active_window_closed (subscribed, an inbound message within 24 hours or not), pending (consent asked), lapsed (removed by pruning), unsubscribed (by themselves)',
    labelNames: ['topic', 'state'],
    registers: [metrics.registry],
    async collect() {
      const rows = await snapshot.get();
      subscribers.reset();
      for (const { topic, counts: byState } of rows) {
        for (const [state, n] of Object.entries(byState)) subscribers.set({ topic, state }, n);
      }
    },
  });
  return {
    pruned: (topic, reason, count) => prunedTotal.inc({ topic, reason }, count),
    invalidate: () => snapshot.invalidate(),
  };
}
