import type { Clock } from '../domain/clock.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import { NUDGE_CALLBACK_PREFIX } from '../store/nudge-repository.js';
import { isDeliveryId, type Delivery, type DeliveryRepository, type StatusUpdate } from '../store/delivery-repository.js';
import type { StoredStatus, WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { StatusEvent } from '../whatsapp/webhook-parser.js';
import type { BatchQueue } from './fan-out.js';
import { BackgroundDrain } from './background-drain.js';
import type { Logger } from './logger.js';

const OUTSIDE_WINDOW = 131047;
/** A delivery status whose record cannot be found is kept this long (its record may come later). */
const ORPHAN_GRACE_MS = 10 * 60_000;

export interface StatusApplierDeps {
  events: WebhookEventRepository;
  deliveries: DeliveryRepository;
  broadcasts: BroadcastRepository;
  queue: BatchQueue;
  clock: Clock;
  logger: Logger;
  /** Told of a nudge that failed after it was accepted (131047 reported by a status webhook). */
  onNudgeFailed?: (nudgeId: string, code: string, reason: string) => Promise<void>;
}

/** How many just-stored statuses wait in memory at most; beyond, the periodic sweep finds them. */
const QUEUE_LIMIT = 20_000;
/** The sweep leaves statuses younger than this to the worker that stored them. */
const SWEEP_AFTER_MS = 30_000;
const APPLY_BATCH = 500;
/** Statuses arriving within this time are applied in one pass (one bulk write). */
const GATHER_MS = 50;
/** A status's forward rank, as the delivery record keeps it. */
const STATUS_RANK: Record<StatusEvent['status'], number> = { sent: 1, delivered: 2, read: 3, failed: 4 };

/**
 * Moves deliveries forward with the status webhooks stored by the webhook route, records the
 * pricing Meta reports, and sends the template after a session message failed with 131047.
 * The route hands over what it just stored (`accept`), so applying needs no query for it; a
 * periodic sweep (`sweep`) applies what a stopped or killed worker left.
 */
export class StatusApplier {
  readonly #background: BackgroundDrain;
  #queue: StoredStatus[] = [];
  #swept = false;

  constructor(private readonly deps: StatusApplierDeps) {
    this.#background = new BackgroundDrain((signal) => this.#drainQueue(signal), deps.logger, 'applying statuses', GATHER_MS);
  }

  /** Queues statuses the webhook route just stored and applies them in the background. */
  accept(stored: readonly StoredStatus[]): void {
    this.#queue.push(...stored);
    // Far behind: forget the oldest here; they are stored unapplied, and the sweep has them.
    if (this.#queue.length > QUEUE_LIMIT) this.#queue = this.#queue.slice(-QUEUE_LIMIT);
    this.#background.kick();
  }

  /** Waits for the background drain to finish everything waiting (tests). */
  async idle(): Promise<void> {
    await this.#background.idle();
  }

  /** Shutdown: records what is applied so far and leaves the rest stored for the next start. */
  async stop(): Promise<void> {
    await this.#background.stop();
  }

  /**
   * The periodic job: applies stored statuses older than SWEEP_AFTER_MS (younger ones are
   * queued in the worker that stored them). The first sweep after a start takes all of them:
   * what a stopped worker left.
   */
  async sweep(signal?: AbortSignal): Promise<number> {
    const first = !this.#swept;
    const applied = await this.#applyStored(signal, first ? undefined : SWEEP_AFTER_MS);
    this.#swept = !signal?.aborted;
    return applied;
  }

  /**
   * Applies what was queued when the pass began, in batches. What comes in during the pass waits
   * for the gathering time of its own kick, so that a steady stream of statuses takes one pass
   * (two writes) per GATHER_MS, not one per write's round trip.
   */
  async #drainQueue(signal: AbortSignal): Promise<number> {
    let total = 0;
    let left = this.#queue.length;
    while (left > 0 && this.#queue.length > 0 && !signal.aborted) {
      const batch = this.#queue.splice(0, Math.min(left, APPLY_BATCH));
      left -= batch.length;
      total += (await this.#applyBatch(batch, signal)).applied;
    }
    return total;
  }

  async #applyStored(signal?: AbortSignal, olderThanMs?: number): Promise<number> {
    let total = 0;
    for (;;) {
      if (signal?.aborted) return total;
      const before = olderThanMs === undefined ? undefined : new Date(this.deps.clock.now().getTime() - olderThanMs);
      const batch = await this.deps.events.unappliedStatuses(APPLY_BATCH, before);
      if (batch.length === 0) return total;
      const { applied, waiting } = await this.#applyBatch(batch, signal);
      total += applied;
      if (waiting) return total; // the rest waits for its delivery record
    }
  }

  /**
   * Applies a batch and marks it applied. The statuses of one delivery are applied as one: its
   * most advanced status, with the pricing any of them reported (a backlog often holds `sent`,
   * `delivered` and `read` of one message, and the rank only moves forward anyway). The whole
   * batch takes one bulk write, whatever its size (and a query when it holds a `failed` status or
   * a status whose delivery is not there).
   */
  async #applyBatch(batch: readonly StoredStatus[], signal?: AbortSignal): Promise<{ applied: number; waiting: boolean }> {
    const groups = new Map<string, StoredStatus[]>();
    const done: string[] = [];
    for (const item of batch) {
      const callback = item.event.callbackData;
      const nudge = callback?.startsWith(NUDGE_CALLBACK_PREFIX) ? callback.slice(NUDGE_CALLBACK_PREFIX.length) : undefined;
      if (callback && !isDeliveryId(callback)) {
        if (nudge !== undefined && item.event.status === 'failed' && this.deps.onNudgeFailed) {
          const error = item.event.errors?.[0];
          const code = String(error?.code ?? 'unknown');
          await this.deps.onNudgeFailed(nudge, code, `failed status (${code})`);
        }
        done.push(item.key); // a conversation reply or a nudge, not a broadcast delivery
        continue;
      }
      const target = callback ?? `wamid:${item.event.id}`;
      groups.set(target, [...(groups.get(target) ?? []), item]);
    }
    let waiting = false;
    if (groups.size > 0 && !signal?.aborted) {
      const leads = [...groups.values()].map((items) => {
        const lead = items.reduce((a, b) => (STATUS_RANK[b.event.status] > STATUS_RANK[a.event.status] ? b : a));
        const pricing = lead.event.pricing ?? items.findLast((i) => i.event.pricing)?.event.pricing;
        return { items, event: { ...lead.event, ...(pricing ? { pricing } : {}) } };
      });
      const now = this.deps.clock.now();
      const outcomes = await this.deps.deliveries.applyStatuses(leads.map(({ event }) => toUpdate(event)), now);
      for (const [index, { items, event }] of leads.entries()) {
        const outcome = outcomes[index];
        if (outcome?.found && outcome.delivery) await this.#afterApplied(event, outcome.delivery, now);
        for (const item of items) {
          if (outcome?.found || now.getTime() - item.receivedAt.getTime() > ORPHAN_GRACE_MS) done.push(item.key);
          else waiting = true;
        }
      }
    }
    await this.deps.events.markStatusesApplied(done);
    return { applied: done.length, waiting };
  }

  /** A session message refused by a failed status (131047): the template goes out instead, once. */
  async #afterApplied(event: StatusEvent, delivery: Delivery, now: Date): Promise<void> {
    const { deliveries, broadcasts, queue } = this.deps;
    if (event.status !== 'failed' || event.errors?.[0]?.code !== OUTSIDE_WINDOW || delivery.kind !== 'session') return;
    if (!(await deliveries.requeueForTemplate(delivery.id, now))) return;
    const batch = await broadcasts.batchFor(delivery.broadcastId, delivery.contactKey);
    if (!batch) return;
    // The broadcast may have been finished already: it is open again until the template is out.
    await broadcasts.setStatus(delivery.broadcastId, ['done'], 'running', undefined, now);
    await broadcasts.reopenBatch(batch.id, now);
    await queue.scheduleBatch(batch.id, now);
  }
}

function toUpdate(event: StatusEvent): StatusUpdate {
  const error = event.errors?.[0];
  const pricing = event.pricing;
  return {
    ...(isDeliveryId(event.callbackData) ? { id: event.callbackData } : {}),
    wamid: event.id,
    status: event.status,
    ...(pricing ? { pricing: { ...(pricing.type ? { type: pricing.type } : {}), ...(pricing.category ? { category: pricing.category } : {}), ...(pricing.billable === undefined ? {} : { billable: pricing.billable }) } } : {}),
    ...(error ? { errorCode: String(error.code), reason: error.title ?? error.message ?? 'failed' } : {}),
  };
}
