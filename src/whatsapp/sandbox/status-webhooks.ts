import type { Clock } from '../../domain/clock.js';
import type { SeededRandom } from './seeded-random.js';
import type { AcceptedMessage, MessageStatus } from './sandbox-state.js';
import { statusesWebhook, type BusinessIdentity, type StatusUpdate } from './webhook-payloads.js';
import type { WebhookSender } from './webhook-sender.js';
import { statusError } from './error-catalog.js';

export interface StatusOptions {
  /** After acceptance; default 50 ms. */
  sentDelayMs: number;
  /** After `sent`; default 150 ms. */
  deliveredDelayMs: number;
  /** After `delivered`; default 1000 ms. */
  readDelayMs: number;
  /** Default 1. */
  deliveredProbability: number;
  /** Default 0.5. */
  readProbability: number;
  /** Of the read messages, how many skip `delivered` (read at once); default 0.1. */
  skipDeliveredProbability: number;
  /** Statuses that fall due within this long of each other go out in one POST; default 25 ms. */
  batchWindowMs: number;
  /** Largest number of statuses in one POST (Meta: up to 1,000 updates); default 1000. */
  maxBatch: number;
}

export const DEFAULT_STATUS_OPTIONS: StatusOptions = Object.freeze({
  sentDelayMs: 50,
  deliveredDelayMs: 150,
  readDelayMs: 1000,
  deliveredProbability: 1,
  readProbability: 0.5,
  skipDeliveredProbability: 0.1,
  batchWindowMs: 25,
  maxBatch: 1000,
});

const ORDER: Record<MessageStatus, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/**
 * Plans the status webhooks of each accepted message (sent → delivered → read, or failed)
 * on real timers and delivers the ones falling due together in one signed POST.
 * Timestamps come from the injected clock at the moment a status goes out.
 */
export class StatusWebhooks {
  readonly #timers = new Set<NodeJS.Timeout>();
  #ready: { message: AcceptedMessage; update: Omit<StatusUpdate, 'timestamp'> }[] = [];
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sender: WebhookSender,
    private readonly identity: BusinessIdentity,
    private readonly clock: Clock,
    private readonly random: SeededRandom,
    private readonly options: StatusOptions,
  ) {}

  /** Plans `sent`, then `delivered` and `read` by their probabilities. */
  planDelivery(message: AcceptedMessage): void {
    const o = this.options;
    this.#at(o.sentDelayMs, message, 'sent');
    const read = this.random.chance(o.readProbability);
    const delivered = this.random.chance(o.deliveredProbability) && !(read && this.random.chance(o.skipDeliveredProbability));
    if (delivered) this.#at(o.sentDelayMs + o.deliveredDelayMs, message, 'delivered');
    if (read) this.#at(o.sentDelayMs + o.deliveredDelayMs + o.readDelayMs, message, 'read');
  }

  /** Plans a `failed` status with this error, optionally after a `sent`. */
  planFailure(message: AcceptedMessage, code: number, afterSent: boolean): void {
    if (afterSent) this.#at(this.options.sentDelayMs, message, 'sent');
    this.#at(this.options.sentDelayMs + (afterSent ? this.options.deliveredDelayMs : 0), message, 'failed', code);
  }

  get pending(): number {
    return this.#timers.size + this.#ready.length;
  }

  /** Forgets everything planned (reset, stop). */
  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#ready = [];
  }

  #at(delayMs: number, message: AcceptedMessage, status: StatusUpdate['status'], errorCode?: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const update: Omit<StatusUpdate, 'timestamp'> = { id: message.wamid, status, recipient_id: message.to };
      if (message.callbackData !== undefined) update.biz_opaque_callback_data = message.callbackData;
      if (status === 'failed') update.errors = [statusError(errorCode ?? 131000)];
      else if (message.pricing) update.pricing = message.pricing;
      this.#ready.push({ message, update });
      this.#flushTimer ??= setTimeout(() => this.#flush(), this.options.batchWindowMs);
    }, delayMs);
    this.#timers.add(timer);
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const ready = this.#ready;
    this.#ready = [];
    const timestamp = String(Math.floor(this.clock.now().getTime() / 1000));
    for (let i = 0; i < ready.length; i += this.options.maxBatch) {
      const batch = ready.slice(i, i + this.options.maxBatch);
      for (const { message, update } of batch) {
        if (ORDER[update.status] > ORDER[message.status]) message.status = update.status;
        if (update.status === 'failed') message.errorCode = update.errors?.[0]?.code;
      }
      void this.sender.deliver(statusesWebhook(this.identity, batch.map(({ update }) => ({ ...update, timestamp }))));
    }
  }
}
