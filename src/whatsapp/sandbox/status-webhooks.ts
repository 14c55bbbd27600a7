import type { Clock } from '../../domain/clock.js';
import type { SeededRandom } from './seeded-random.js';
import type { AcceptedMessage, KeptMessage, PlannedStatus, SandboxState } from './sandbox-state.js';
import type { UserIds } from './scoped-ids.js';
import { statusesWebhook, type BusinessIdentity, type StatusUpdate, type WebhookContact } from './webhook-payloads.js';
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
  /** With `maxBatch` above 1: statuses that fall due within this long of each other go out in one POST; default 25 ms. */
  batchWindowMs: number;
  /** Largest number of statuses in one POST; default 1, as the platform sends them (a receiver that reads only `statuses[0]` loses the rest of a batch). */
  maxBatch: number;
  /** Of the messages that get both delivered and read, how many get read first (the platform does not promise the order); default 0. */
  outOfOrderProbability: number;
}

export const DEFAULT_STATUS_OPTIONS: StatusOptions = Object.freeze({
  sentDelayMs: 50,
  deliveredDelayMs: 150,
  readDelayMs: 1000,
  deliveredProbability: 1,
  readProbability: 0.5,
  skipDeliveredProbability: 0.1,
  batchWindowMs: 25,
  maxBatch: 1,
  outOfOrderProbability: 0,
});

/**
 * Plans the status webhooks of each accepted message (sent → delivered → read, or failed)
 * on real timers and delivers the ones falling due together in one signed POST.
 * Timestamps come from the injected clock at the moment a status goes out. What is planned is
 * also kept in the state, so that statuses still to come when the sandbox stops go out after
 * the next start (`resume`).
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
    private readonly state: SandboxState,
    private readonly userIds: UserIds,
  ) {}

  /** Plans `sent`, then `delivered` and `read` by their probabilities (`read` before `delivered` by `outOfOrderProbability`). */
  planDelivery(message: AcceptedMessage): void {
    const o = this.options;
    const plan: PlannedStatus[] = [{ status: 'sent', afterMs: o.sentDelayMs }];
    const read = this.random.chance(o.readProbability);
    const delivered = this.random.chance(o.deliveredProbability) && !(read && this.random.chance(o.skipDeliveredProbability));
    const deliveredAt = o.sentDelayMs + o.deliveredDelayMs;
    const readAt = deliveredAt + o.readDelayMs;
    const swapped = delivered && read && this.random.chance(o.outOfOrderProbability);
    if (delivered) plan.push({ status: 'delivered', afterMs: swapped ? readAt : deliveredAt });
    if (read) plan.push({ status: 'read', afterMs: swapped ? deliveredAt : readAt });
    this.#plan(message, plan);
  }

  /** Plans a `failed` status with this error, optionally after a `sent`. */
  planFailure(message: AcceptedMessage, code: number, afterSent: boolean): void {
    const plan: PlannedStatus[] = afterSent ? [{ status: 'sent', afterMs: this.options.sentDelayMs }] : [];
    plan.push({ status: 'failed', afterMs: this.options.sentDelayMs + (afterSent ? this.options.deliveredDelayMs : 0), code });
    this.#plan(message, plan);
  }

  /** Plans again what was still to come for these messages when the sandbox last stopped, each as long after now as it was planned after acceptance. */
  resume(kept: readonly KeptMessage[]): void {
    for (const { message, planned } of kept) for (const status of planned ?? []) this.#at(message, status);
  }

  get pending(): number {
    return this.#timers.size + this.#ready.length;
  }

  /** Forgets the timers (reset, stop); the state still holds what was planned. */
  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#ready = [];
  }

  #plan(message: AcceptedMessage, plan: readonly PlannedStatus[]): void {
    this.state.plan(message.wamid, plan);
    for (const planned of plan) this.#at(message, planned);
  }

  #at(message: AcceptedMessage, planned: PlannedStatus): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const update: Omit<StatusUpdate, 'timestamp'> = { id: message.wamid, status: planned.status };
      if (!message.byUserId) update.recipient_id = message.to;
      // A failed status names the BSUID only when the message was sent to it (as on the platform).
      if (planned.status !== 'failed' || message.byUserId) update.recipient_user_id = this.userIds.of(message.to);
      if (message.callbackData !== undefined) update.biz_opaque_callback_data = message.callbackData;
      if (planned.status === 'failed') update.errors = [statusError(planned.code ?? 131000)];
      else if (message.pricing) update.pricing = message.pricing;
      this.#ready.push({ message, update });
      this.#flushTimer ??= setTimeout(() => this.#flush(), this.options.maxBatch > 1 ? this.options.batchWindowMs : 0);
    }, planned.afterMs);
    this.#timers.add(timer);
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const ready = this.#ready;
    this.#ready = [];
    const timestamp = String(Math.floor(this.clock.now().getTime() / 1000));
    for (let i = 0; i < ready.length; i += this.options.maxBatch) {
      const batch = ready.slice(i, i + this.options.maxBatch);
      for (const { message, update } of batch) this.state.statusReported(message.wamid, update.status, update.errors?.[0]?.code);
      void this.sender.deliver(statusesWebhook(this.identity, batch.map(({ update }) => ({ ...update, timestamp })), this.#contacts(batch)));
    }
  }

  /**
   * The recipients of the batch's sent, delivered and read statuses, each once, with the username
   * of one who has one when a delivered or read status names them (a sent status never does).
   */
  #contacts(batch: readonly { message: AcceptedMessage; update: Omit<StatusUpdate, 'timestamp'> }[]): WebhookContact[] {
    const contacts = new Map<string, WebhookContact>();
    for (const { message, update } of batch) {
      if (update.status === 'failed') continue;
      const contact = contacts.get(message.to) ?? (message.byUserId ? { user_id: this.userIds.of(message.to) } : { wa_id: message.to, user_id: this.userIds.of(message.to) });
      const username = update.status === 'sent' ? undefined : this.state.contact(message.to)?.username;
      if (username !== undefined) contact.profile = { username };
      contacts.set(message.to, contact);
    }
    return [...contacts.values()];
  }
}
