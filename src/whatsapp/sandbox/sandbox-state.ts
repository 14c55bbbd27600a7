import { randomBytes } from 'node:crypto';
import { PairRateLimiter, TokenBucket, type PairRate } from './rate-limits.js';

export const WINDOW_MS = 24 * 60 * 60 * 1000;

export type MessageStatus = 'accepted' | 'sent' | 'delivered' | 'read' | 'failed';

/** A message the sandbox accepted, as `GET /_sandbox/messages` lists it. */
export interface AcceptedMessage {
  wamid: string;
  to: string;
  type: 'text' | 'interactive' | 'template';
  templateName?: string;
  templateLanguage?: string;
  body: string;
  callbackData?: string;
  acceptedAt: Date;
  status: MessageStatus;
  errorCode?: number;
  pricing?: Pricing;
  /** Sent to the contact's business-scoped user id (`recipient`) rather than the phone number: its webhooks do not show the number. */
  byUserId?: boolean;
}

export interface Pricing {
  billable: boolean;
  pricing_model: 'PMP';
  type: 'regular' | 'free_customer_service';
  category: 'marketing' | 'utility' | 'authentication' | 'service';
}

export interface ForcedError {
  /** A Meta error code, e.g. 131049. */
  code: number;
  /** How many sends fail this way; undefined: every send until changed. */
  remaining?: number;
  /** `response`: the API answers with the error; `status`: accepted, then a `failed` status webhook. */
  via: 'response' | 'status';
}

export interface ContactSettings {
  onWhatsApp: boolean;
  forcedError?: ForcedError;
  /** Extra delay before the API answers for this contact (to provoke client timeouts). */
  delayMs?: number;
  /**
   * The contact's WhatsApp username: a person with one who has not shared their number with the
   * business. Their inbound webhooks name only their BSUID (no `from`, no `wa_id`) and this
   * username; absent: the number is shared as it always was.
   */
  username?: string;
}

/** What a number change did, or why there was none. */
export type NumberChange = { ok: true; username?: string } | { ok: false; problem: string };

/** A status the sandbox still has to report for a message, `afterMs` after it was accepted. */
export interface PlannedStatus {
  status: Exclude<MessageStatus, 'accepted'>;
  afterMs: number;
  /** The error of a `failed` status. */
  code?: number;
}

/** An accepted message as the state keeps it: its place in the order and the statuses still to come. */
export interface KeptMessage {
  message: AcceptedMessage;
  /** Grows with every accepted message, across restarts. */
  seq: number;
  planned?: PlannedStatus[];
}

/** Told about every change of a message or a contact (to write it behind). */
export interface StateListener {
  message(wamid: string): void;
  contact(waId: string): void;
}

export interface StateOptions {
  /** Messages per second for the phone number; 0 turns the limit off. */
  mps: number;
  pairRate: PairRate | false;
  /** Oldest accepted messages are forgotten beyond this many. */
  maxStoredMessages: number;
  listener?: StateListener;
}

const ORDER: Record<MessageStatus, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/** Digits only: `+49 151 1234-5678` and `4915112345678` are the same contact. */
export function waIdOf(phone: string): string {
  return phone.replace(/\D/g, '');
}

/**
 * Everything the sandbox remembers: windows, contacts, accepted messages (with the statuses still
 * planned for them) and rate limits. Changes of messages and contacts are told to the listener;
 * windows are written by the caller, which must know they are durable before it goes on.
 */
export class SandboxState {
  readonly #lastInbound = new Map<string, number>();
  readonly #contacts = new Map<string, ContactSettings>();
  readonly #messages = new Map<string, KeptMessage>();
  /** Random per start, so ids never repeat across restarts. */
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #counter = 0;
  #seq = 0;
  #throughput: TokenBucket | undefined;
  #pairs: PairRateLimiter | undefined;

  constructor(private readonly options: StateOptions) {
    this.#resetLimits();
  }

  /** Takes back what a store kept (at start, before anything else happened). */
  restore(saved: { windows: readonly { waId: string; lastInboundMs: number }[]; contacts: readonly { waId: string; settings: ContactSettings }[]; messages: readonly KeptMessage[] }): void {
    for (const { waId, lastInboundMs } of saved.windows) this.recordInbound(waId, lastInboundMs);
    for (const { waId, settings } of saved.contacts) this.#contacts.set(waId, settings);
    for (const kept of saved.messages) {
      this.#messages.set(kept.message.wamid, { ...kept });
      this.#seq = Math.max(this.#seq, kept.seq);
    }
  }

  /** Opens (or restarts) the contact's window; an older timestamp never shortens it. */
  recordInbound(waId: string, atMs: number): void {
    const previous = this.#lastInbound.get(waId);
    if (previous === undefined || atMs > previous) this.#lastInbound.set(waId, atMs);
  }

  lastInbound(waId: string): number | undefined {
    return this.#lastInbound.get(waId);
  }

  /** Open from the latest inbound message (inclusive) to 24 h later (exclusive). */
  windowOpen(waId: string, nowMs: number): boolean {
    const at = this.#lastInbound.get(waId);
    return at !== undefined && nowMs >= at && nowMs - at < WINDOW_MS;
  }

  contact(waId: string): ContactSettings | undefined {
    return this.#contacts.get(waId);
  }

  setContact(waId: string, settings: ContactSettings): void {
    this.#contacts.set(waId, settings);
    this.options.listener?.contact(waId);
  }

  /**
   * The person behind `from` now has the number `to` (the number and with it the BSUID change):
   * `from` is no longer on WhatsApp (a send to it or to its BSUID fails with 131026), `to` is, with
   * the person's username. What else was set for either number (forced errors, delays) stays with
   * that number; windows are not moved (the person's next message opens one for `to`).
   */
  changeNumber(from: string, to: string): NumberChange {
    if (from === to) return { ok: false, problem: 'newPhone: the same number as phone' };
    const old = this.#contacts.get(from);
    if (old?.onWhatsApp === false) return { ok: false, problem: 'phone: not on WhatsApp, so no one can change from it' };
    const { username, ...kept } = old ?? { onWhatsApp: true };
    this.setContact(from, { ...kept, onWhatsApp: false });
    const { username: _replaced, ...target } = this.#contacts.get(to) ?? { onWhatsApp: true };
    this.setContact(to, { ...target, onWhatsApp: true, ...(username === undefined ? {} : { username }) });
    return { ok: true, ...(username === undefined ? {} : { username }) };
  }

  /** The error forced for this contact, counting it down. */
  takeForcedError(waId: string): ForcedError | undefined {
    const contact = this.#contacts.get(waId);
    const forced = contact?.forcedError;
    if (!contact || !forced) return undefined;
    if (forced.remaining !== undefined) {
      const remaining = forced.remaining - 1;
      if (remaining <= 0) delete contact.forcedError;
      else contact.forcedError = { ...forced, remaining };
      this.options.listener?.contact(waId);
    }
    return forced;
  }

  takeThroughput(nowMs: number): boolean {
    return this.#throughput?.take(nowMs) ?? true;
  }

  takePairRate(waId: string, nowMs: number): boolean {
    return this.#pairs?.take(waId, nowMs) ?? true;
  }

  nextWamid(): string {
    this.#counter += 1;
    return `wamid.HBgL${this.#idPrefix}${this.#counter.toString(36).padStart(8, '0')}`;
  }

  addMessage(message: AcceptedMessage): void {
    this.#seq += 1;
    this.#messages.set(message.wamid, { message, seq: this.#seq });
    this.options.listener?.message(message.wamid);
    if (this.#messages.size > this.options.maxStoredMessages) {
      const oldest = this.#messages.keys().next();
      if (!oldest.done) {
        this.#messages.delete(oldest.value);
        this.options.listener?.message(oldest.value);
      }
    }
  }

  message(wamid: string): AcceptedMessage | undefined {
    return this.#messages.get(wamid)?.message;
  }

  /** The message with its order and planned statuses, as a store keeps it. */
  kept(wamid: string): KeptMessage | undefined {
    return this.#messages.get(wamid);
  }

  messages(filter: { to?: string } = {}): AcceptedMessage[] {
    const all = [...this.#messages.values()].map((kept) => kept.message);
    return filter.to === undefined ? all : all.filter((m) => m.to === waIdOf(filter.to ?? ''));
  }

  /** The messages that still have statuses planned. */
  planned(): KeptMessage[] {
    return [...this.#messages.values()].filter((kept) => (kept.planned?.length ?? 0) > 0);
  }

  /** Remembers the statuses planned for a message (they survive a restart with it). */
  plan(wamid: string, planned: readonly PlannedStatus[]): void {
    const kept = this.#messages.get(wamid);
    if (!kept || planned.length === 0) return;
    kept.planned = [...(kept.planned ?? []), ...planned];
    this.options.listener?.message(wamid);
  }

  /** A planned status went out: the message moves forward (never back) and the status is no longer planned. */
  statusReported(wamid: string, status: PlannedStatus['status'], errorCode?: number): void {
    const kept = this.#messages.get(wamid);
    if (!kept) return;
    if (ORDER[status] > ORDER[kept.message.status]) kept.message.status = status;
    if (status === 'failed') kept.message.errorCode = errorCode;
    const index = kept.planned?.findIndex((p) => p.status === status) ?? -1;
    if (index >= 0) kept.planned?.splice(index, 1);
    if (kept.planned?.length === 0) delete kept.planned;
    this.options.listener?.message(wamid);
  }

  reset(): void {
    this.#lastInbound.clear();
    this.#contacts.clear();
    this.#messages.clear();
    this.#resetLimits();
  }

  #resetLimits(): void {
    this.#throughput = this.options.mps > 0 ? new TokenBucket(this.options.mps, 1000 / this.options.mps) : undefined;
    this.#pairs = this.options.pairRate === false ? undefined : new PairRateLimiter(this.options.pairRate);
  }
}
