import { getCountryCallingCode, isSupportedCountry } from 'libphonenumber-js/max';
import type { Config } from '../../config/index.js';
import type { TopicContent } from '../domain/broadcast-content.js';
import type { TopicConfig } from '../domain/conversation-config.js';
import { KEEPER_HISTORY_MS } from '../domain/keeper-policy.js';
import { measureHistory, type MeasuredHistory } from '../domain/simulation/history.js';
import type { SimulatedWorker } from '../domain/simulation/types.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import type { ContactRepository } from '../store/contact-repository.js';
import type { DeliveryRepository } from '../store/delivery-repository.js';
import type { NudgeRepository } from '../store/nudge-repository.js';
import { PACE_HEADROOM } from '../store/send-pacer.js';
import type { WebhookEventRepository } from '../store/webhook-event-repository.js';

/** The pruning job's interval (jobs/index.ts: prune-subscribers every hour). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** The worker's settings as the simulation reads them: the same configuration the worker runs with. */
export function simulatedWorker(config: Config, topic: TopicConfig): SimulatedWorker {
  return {
    safetyMarginMs: config.fanOut.safetyMarginMs,
    nudgeBeforeCloseMs: config.keeper.nudgeBeforeCloseMs,
    keeperIntervalMs: config.keeper.intervalMs,
    quietHours: config.keeper.quietHours,
    timeZone: config.timezone,
    pruneAfterDays: config.pruning.afterDays,
    pruneAfterUnansweredTemplates: config.pruning.afterUnansweredTemplates,
    pruneIntervalMs: PRUNE_INTERVAL_MS,
    sendsPerSecond: config.sendRateMps * PACE_HEADROOM,
    broadcastCarriesNudgeButtons: topic.broadcastCarriesNudgeButtons === true,
  };
}

/** The calling code of the topic's locale region (`de-DE` → `49`), or undefined when it names none. */
export function callingCodeOfLocale(content: TopicContent | undefined): string | undefined {
  const region = content ? new Intl.Locale(content.locale).region : undefined;
  return region && isSupportedCountry(region) ? getCountryCallingCode(region) : undefined;
}

/** A number in the country of this calling code, for the rate card; empty for its `*` rates. */
export function phoneOfCallingCode(code: string | undefined): string {
  return code ? `+${code}000000000` : '';
}

export interface HistorySources {
  broadcasts: Pick<BroadcastRepository, 'topicHistory'>;
  deliveries: Pick<DeliveryRepository, 'wentOut'>;
  nudges: Pick<NudgeRepository, 'sentOfTopic'>;
  events: Pick<WebhookEventRepository, 'inboundTimes'>;
  contacts: Pick<ContactRepository, 'topicCounts'>;
}

export interface TopicHistory {
  measured: MeasuredHistory;
  /** Subscribed to the topic now. */
  subscribers: number;
}

/**
 * A topic's history of the last `periodMs` (default the keeper's look-back) from the database,
 * measured: publishing, answers to news and nudges, and how long answers take. Reads who got
 * what when, never message content.
 */
export async function readTopicHistory(sources: HistorySources, topic: string, now: Date, timeZone: string, periodMs = KEEPER_HISTORY_MS): Promise<TopicHistory> {
  const since = new Date(now.getTime() - periodMs);
  const broadcasts = await sources.broadcasts.topicHistory(topic, since);
  const [deliveries, nudges, inbound, counts] = await Promise.all([
    sources.deliveries.wentOut(broadcasts.map((b) => b.id)),
    sources.nudges.sentOfTopic(topic, since),
    sources.events.inboundTimes(since, now),
    sources.contacts.topicCounts(topic, now),
  ]);
  const measured = measureHistory({ since, until: now, timeZone, broadcasts: broadcasts.map((b) => b.createdAt), deliveries, nudges, inbound });
  return { measured, subscribers: counts.active_window_open + counts.active_window_closed };
}
