import type { Clock } from '../domain/clock.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import { isDeliveryId, type DeliveryRepository } from '../store/delivery-repository.js';
import type { WebhookEventRepository } from '../store/webhook-event-repository.js';
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
}

/**
 * Moves deliveries forward with the status webhooks stored by the webhook route, records the
 * pricing Meta reports, and sends the template after a session message failed with 131047.
 */
export class StatusApplier {
  readonly #background: BackgroundDrain;

  constructor(private readonly deps: StatusApplierDeps) {
    this.#background = new BackgroundDrain((signal) => this.drain(signal), deps.logger, 'applying statuses');
  }

  /** Starts a drain in the background unless one is running (then it runs once more after). */
  kick(): void {
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

  /** Applies every waiting status, or until `signal` aborts; returns how many. */
  async drain(signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (;;) {
      if (signal?.aborted) return total;
      const batch = await this.deps.events.unappliedStatuses(500);
      if (batch.length === 0) return total;
      const done: string[] = [];
      let waiting = false;
      for (const item of batch) {
        if (signal?.aborted) break;
        if (await this.#apply(item.event, item.receivedAt)) done.push(item.key);
        else waiting = true;
      }
      await this.deps.events.markStatusesApplied(done);
      total += done.length;
      if (waiting) return total; // the rest waits for its delivery record
    }
  }

  /** Returns true when the status is handled (applied, or not about a delivery). */
  async #apply(event: Parameters<WebhookEventRepository['addStatuses']>[0][number], receivedAt: Date): Promise<boolean> {
    const { deliveries, broadcasts, queue, clock } = this.deps;
    const now = clock.now();
    const byId = isDeliveryId(event.callbackData) ? event.callbackData : undefined;
    if (!byId && event.callbackData) return true; // a conversation reply, not a broadcast delivery
    const error = event.errors?.[0];
    const result = await deliveries.applyStatus(
      { ...(byId ? { id: byId } : {}), wamid: event.id },
      event.status,
      {
        ...(event.pricing ? { pricing: { ...(event.pricing.type ? { type: event.pricing.type } : {}), ...(event.pricing.category ? { category: event.pricing.category } : {}), ...(event.pricing.billable === undefined ? {} : { billable: event.pricing.billable }) } } : {}),
        ...(error ? { errorCode: String(error.code), reason: error.title ?? error.message ?? 'failed' } : {}),
      },
      now,
    );
    if (!result.found) return now.getTime() - receivedAt.getTime() > ORPHAN_GRACE_MS;
    if (event.status === 'failed' && error?.code === OUTSIDE_WINDOW && result.delivery?.kind === 'session' && byId) {
      if (await deliveries.requeueForTemplate(byId, now)) {
        const delivery = await deliveries.get(byId);
        const batch = delivery ? await broadcasts.batchFor(delivery.broadcastId, delivery.contactKey) : undefined;
        if (batch && delivery) {
          // The broadcast may have been finished already: it is open again until the template is out.
          await broadcasts.setStatus(delivery.broadcastId, ['done'], 'running', undefined, now);
          await broadcasts.reopenBatch(batch.id, now);
          await queue.scheduleBatch(batch.id, now);
        }
      }
    }
    return true;
  }
}
