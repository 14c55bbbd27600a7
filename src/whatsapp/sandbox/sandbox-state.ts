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
}

export interface StateOptions {
  /** Messages per second for the phone number; 0 turns the limit off. */
  mps: number;
  pairRate: PairRate | false;
  /** Oldest accepted messages are forgotten beyond this many. */
  maxStoredMessages: number;
}

/** Digits only: `+49 151 1234-5678` and `4915112345678` are the same contact. */
export function waIdOf(phone: string): string {
  return phone.replace(/\D/g, '');
}

/** Everything the sandbox remembers: windows, contacts, accepted messages and rate limits. */
export class SandboxState {
  readonly #lastInbound = new Map<string, number>();
  readonly #contacts = new Map<string, ContactSettings>();
  readonly #messages = new Map<string, AcceptedMessage>();
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #counter = 0;
  #throughput: TokenBucket | undefined;
  #pairs: PairRateLimiter | undefined;

  constructor(private readonly options: StateOptions) {
    this.#resetLimits();
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
  }

  /** The error forced for this contact, counting it down. */
  takeForcedError(waId: string): ForcedError | undefined {
    const forced = this.#contacts.get(waId)?.forcedError;
    if (!forced) return undefined;
    if (forced.remaining !== undefined) {
      forced.remaining -= 1;
      if (forced.remaining <= 0) delete this.#contacts.get(waId)?.forcedError;
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
    this.#messages.set(message.wamid, message);
    if (this.#messages.size > this.options.maxStoredMessages) {
      const oldest = this.#messages.keys().next();
      if (!oldest.done) this.#messages.delete(oldest.value);
    }
  }

  message(wamid: string): AcceptedMessage | undefined {
    return this.#messages.get(wamid);
  }

  messages(filter: { to?: string } = {}): AcceptedMessage[] {
    const all = [...this.#messages.values()];
    return filter.to === undefined ? all : all.filter((m) => m.to === waIdOf(filter.to ?? ''));
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
