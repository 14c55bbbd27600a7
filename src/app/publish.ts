import { createHash } from 'node:crypto';
import { renderContent, type RenderedContent } from '../domain/broadcast-content.js';
import { PermanentError } from '../domain/errors.js';
import { callingCodeDigits, reportedPrice } from '../domain/pricing.js';
import type { Broadcast, PlanSummary } from '../store/broadcast-repository.js';
import type { Contact } from '../store/contact-repository.js';
import type { Services } from './deps.js';
import type { BatchQueue } from './fan-out.js';
import { addToPlan, costOf, decideFor, emptyPlan } from './fan-out-plan.js';

export interface PublishRequest {
  topic: string;
  text?: string;
  data?: Readonly<Record<string, unknown>>;
  templateName?: string;
  /** Idempotency key; default: topic + hash of the content. */
  key?: string;
}

export interface PreparedBroadcast {
  topic: string;
  key: string;
  content: RenderedContent;
}

/** Checks and renders what is to be published; a PermanentError names what is wrong. Stores nothing. */
export function prepareBroadcast(services: Pick<Services, 'contents' | 'config'>, request: PublishRequest): PreparedBroadcast {
  const content = services.contents.get(request.topic);
  if (!content) {
    throw new PermanentError(`unknown topic "${request.topic}" (known: ${[...services.contents.keys()].join(', ') || 'none'})`, { code: 'invalid-input' });
  }
  const rendered = renderContent(content, { ...(request.text === undefined ? {} : { text: request.text }), ...(request.data ? { data: request.data } : {}), ...(request.templateName ? { templateName: request.templateName } : {}) }, services.config.timezone);
  const hash = createHash('sha256').update(JSON.stringify(rendered)).digest('hex').slice(0, 16);
  return { topic: request.topic, key: request.key ?? `${request.topic}:${hash}`, content: rendered };
}

/**
 * Who would get what if the broadcast went out at `now`: the same decisions the fan-out makes
 * at send time (a dry run and the real run agree for the same data and clock). Besides, as
 * skip reason `pruned`, the contacts pruning removed from the topic: the fan-out does not read
 * them (they are unsubscribed), so they get no delivery record.
 */
export async function planBroadcast(services: Services, prepared: PreparedBroadcast, now: Date): Promise<PlanSummary> {
  const { contacts, people, config, rateCard } = services;
  const summary = emptyPlan(rateCard.currency);
  const settings = { safetyMarginMs: config.fanOut.safetyMarginMs, rateCard };
  const add = async (page: readonly Contact[]): Promise<void> => {
    const suppressed = await people.suppressedAmong(page);
    for (const contact of page) {
      const decision = decideFor(contact, prepared.topic, prepared.content, suppressed.has(contact.key), now, settings);
      addToPlan(summary, decision, costOf(decision, contact, now, rateCard));
    }
  };
  // One query, streamed.
  let page: Contact[] = [];
  for await (const contact of contacts.streamTopic(prepared.topic)) {
    page.push(contact);
    if (page.length < 1000) continue;
    await add(page);
    page = [];
  }
  await add(page);
  const pruned = await contacts.countPruned(prepared.topic);
  if (pruned > 0) summary.skipped.pruned = (summary.skipped.pruned ?? 0) + pruned;
  return summary;
}

/** Creates the broadcast, or finds the one with the same key. The worker's jobs then send it. */
export async function createBroadcast(services: Services, prepared: PreparedBroadcast, estimate: PlanSummary, now: Date): Promise<{ broadcast: Broadcast; created: boolean }> {
  return services.broadcasts.create({ key: prepared.key, topic: prepared.topic, content: prepared.content, createdAt: now, estimate }, now);
}

/** Continues a paused broadcast: every batch not done gets its job again. */
export async function resumeBroadcast(services: Services, queue: BatchQueue, id: string, now: Date): Promise<number> {
  if (!(await services.broadcasts.setStatus(id, ['paused'], 'running', undefined, now))) {
    const broadcast = await services.broadcasts.get(id);
    throw new PermanentError(broadcast ? `broadcast ${id} is ${broadcast.status}, not paused` : `no broadcast with id ${id}`, { code: 'invalid-input' });
  }
  const open = await services.broadcasts.openBatches(id);
  for (const batchId of open) await queue.scheduleBatch(batchId, now);
  return open.length;
}

/**
 * How long a sent message may wait for its delivery report before it no longer keeps the
 * broadcast from being settled. Reports normally come within seconds; a phone that is off or
 * offline gets the message (and we the report) when it is back, which WhatsApp tries for up to
 * 30 days, so waiting longer than this says nothing more about the broadcast.
 */
export const DEFAULT_REPORT_WAIT_MS = 10 * 60_000;

/**
 * Where a broadcast stands beyond its status. A broadcast is *settled* when sending has
 * finished (status `done`: every batch done, no delivery being sent or waiting for a retry) and
 * every delivery has its final state (delivered, read, failed, skipped or unknown), except sent
 * messages that have waited for their delivery report longer than `reportWaitMs`.
 */
export interface BroadcastProgress {
  sendingFinished: boolean;
  /** Sent messages whose delivery report (delivered, read or failed) has not come yet. */
  awaitingReport: number;
  /** Of those, the ones sent more than `reportWaitMs` ago. */
  overdueReport: number;
  /** When the oldest message still waiting for its report was sent. */
  oldestAwaitingSince?: string;
  reportWaitMs: number;
  settled: boolean;
  /** Deliveries that ended `unknown` and were not resent: `--resend-unknown` can resend them. */
  resendableUnknown: number;
  /** Deliveries resent with `--resend-unknown`. */
  resentUnknown: number;
}

export interface BroadcastReport {
  id: string;
  topic: string;
  status: string;
  statusReason?: string;
  createdAt: string;
  batches: { total: number; done: number };
  deliveries: Record<string, number>;
  byKind: Record<string, number>;
  reasons: Record<string, number>;
  estimate: PlanSummary;
  cost: { estimated: number; reported: number; billableMessages: number; currency: string };
  progress: BroadcastProgress;
}

/** Progress and totals of a broadcast: per state, per reason, estimated and reported cost, and whether it is settled. */
export async function broadcastReport(services: Services, id: string, options: { reportWaitMs?: number } = {}): Promise<BroadcastReport> {
  const broadcast = await services.broadcasts.get(id);
  if (!broadcast) throw new PermanentError(`no broadcast with id ${id}`, { code: 'invalid-input' });
  const totals = await services.deliveries.totals(id);
  let reported = 0;
  let billableMessages = 0;
  for (const group of await services.deliveries.billableCounts(id, callingCodeDigits(services.rateCard))) {
    reported += group.n * reportedPrice(services.rateCard, group.category, group.phone, broadcast.createdAt);
    billableMessages += group.n;
  }
  const reportWaitMs = options.reportWaitMs ?? DEFAULT_REPORT_WAIT_MS;
  const now = services.clock.now();
  const awaiting = await services.deliveries.awaitingReport(id, new Date(now.getTime() - reportWaitMs));
  const sendingFinished = broadcast.status === 'done' && totals.open === 0;
  return {
    id: broadcast.id,
    topic: broadcast.topic,
    status: broadcast.status,
    ...(broadcast.statusReason ? { statusReason: broadcast.statusReason } : {}),
    createdAt: broadcast.createdAt.toISOString(),
    batches: { total: broadcast.batches, done: broadcast.batchesDone },
    deliveries: totals.byState,
    byKind: totals.byKind,
    reasons: totals.byReason,
    estimate: broadcast.estimate,
    cost: { estimated: Math.round(totals.estimatedCost * 1e4) / 1e4, reported: Math.round(reported * 1e4) / 1e4, billableMessages, currency: services.rateCard.currency },
    progress: {
      sendingFinished,
      awaitingReport: awaiting.waiting,
      overdueReport: awaiting.overdue,
      ...(awaiting.oldestSentAt ? { oldestAwaitingSince: awaiting.oldestSentAt.toISOString() } : {}),
      reportWaitMs,
      settled: sendingFinished && awaiting.waiting === awaiting.overdue,
      resendableUnknown: (await services.deliveries.unresolvedUnknown(id)).length,
      resentUnknown: await services.deliveries.resentUnknownCount(id),
    },
  };
}
