import { randomBytes } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';
import type { Logger } from '../../domain/logger.js';
import { signBody } from '../webhook-signature.js';
import type { SavedWebhook } from './sandbox-store.js';
import { metaJson } from './webhook-payloads.js';
import { WebhookPoster } from './webhook-poster.js';
import { DEFAULT_WEBHOOK_RETRY, nextRetryDelayMs, type WebhookRetryPolicy } from './webhook-retry.js';

export interface WebhookSenderOptions {
  appSecret: string;
  url?: string;
  /** When a first attempt failed (kept with the webhook, so that a restart does not start its retry time again). */
  clock: Clock;
  /** Default DEFAULT_WEBHOOK_RETRY: for 24 h, waits from 1 s doubling up to 1 min, at most 10,000 waiting. */
  retry?: Partial<WebhookRetryPolicy>;
  /** An answer must come within this long of a POST going out; default 5000. */
  timeoutMs?: number;
  /** POSTs under way at once, on kept-alive connections; the rest wait their turn. Default 16. */
  maxConnections?: number;
  logger?: Logger;
  /** Told when a webhook starts or stops waiting for a retry, to keep it across restarts. */
  onPendingChange?: (id: string) => void;
  /** Random numbers in [0, 1) for the jitter, duplicates and delays; default Math.random. */
  random?: () => number;
  /** Share of webhooks (0 to 1) whose POST goes a second time, as the platform sometimes does; default 0. */
  duplicateProbability?: number;
  /** Each POST (and each duplicate) waits a random time from 0 to this before it goes, so POSTs arrive out of order; default 0. */
  maxDelayMs?: number;
}

interface PendingWebhook {
  id: string;
  body: Buffer;
  /** X-Hub-Signature-256 of the body. */
  signature: string;
  firstFailedAt: Date;
  /** Retries made so far. */
  retries: number;
  /** The waits so far: retries stop once they add up to the retry time. */
  waitedMs: number;
  timer?: NodeJS.Timeout;
  inFlight: boolean;
}

/**
 * Delivers webhook bodies to the worker like Meta does: a JSON POST (non-ASCII escaped, see
 * `metaJson`) signed with `X-Hub-Signature-256` over the exact bytes; optionally held back a
 * random time and sometimes sent twice; one not answered with 2xx is retried with
 * exponential backoff for the configured time (Meta: up to 7 days). What waits for a retry is
 * bounded (the oldest is dropped beyond it, counted in `dropped`). `stop()` aborts what is in
 * flight and cancels the retries; the webhooks still waiting stay listed (`saved`) so that a
 * store can keep them for the next start.
 */
export class WebhookSender {
  url: string | undefined;
  /** POSTs answered with 2xx. */
  delivered = 0;
  /** Webhooks given up after the retry time. */
  failed = 0;
  /** Webhooks dropped because too many were waiting. */
  dropped = 0;
  /** Retry attempts made (each POST after a webhook's first). */
  retries = 0;
  /** Webhooks sent a second time on purpose (`duplicateProbability`). */
  duplicated = 0;
  readonly #options: WebhookSenderOptions;
  readonly #retry: WebhookRetryPolicy;
  readonly #random: () => number;
  readonly #poster: WebhookPoster;
  readonly #pending = new Map<string, PendingWebhook>();
  readonly #duplicates = new Set<NodeJS.Timeout>();
  /** Webhooks waiting out their delay before the first POST, and how to wake each at a stop. */
  readonly #held = new Map<NodeJS.Timeout, () => void>();
  /** First attempts under way: a stop waits until each cut one is listed as waiting. */
  readonly #firsts = new Set<Promise<boolean>>();
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #counter = 0;
  #stopped = false;

  constructor(options: WebhookSenderOptions) {
    this.#options = options;
    this.#retry = { ...DEFAULT_WEBHOOK_RETRY, ...options.retry };
    this.#random = options.random ?? Math.random;
    this.url = options.url;
    this.#poster = new WebhookPoster({ timeoutMs: options.timeoutMs, maxConnections: options.maxConnections });
  }

  /** Webhooks waiting for a retry. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Webhooks on their way: held back by a delay, a duplicate still to go, or a POST under way. */
  get inFlight(): number {
    return this.#held.size + this.#duplicates.size + this.#poster.size;
  }

  /**
   * Posts once; on failure the webhook waits for its retries. Resolves with whether this first
   * attempt got a 2xx. Without a URL nothing is sent (and nothing retried). After `stop()` the
   * webhook is not sent but kept as waiting, for a store to carry it over to the next start.
   */
  async deliver(payload: unknown): Promise<boolean> {
    if (this.url === undefined) return false;
    const body = Buffer.from(metaJson(payload));
    const signature = signBody(body, this.#options.appSecret);
    const delayMs = this.#delay();
    // Stopped while held back: kept as waiting, below.
    if (delayMs > 0 && !this.#stopped) await this.#hold(delayMs);
    const url = this.url;
    if (url === undefined) return false;
    if (this.#stopped) {
      this.#add(body, signature);
      return false;
    }
    const attempt = this.#first(url, body, signature);
    this.#firsts.add(attempt);
    void attempt.finally(() => this.#firsts.delete(attempt));
    return attempt;
  }

  /** A waiting webhook as a store keeps it. */
  saved(id: string): SavedWebhook | undefined {
    const entry = this.#pending.get(id);
    return entry && { id, body: entry.body.toString('utf8'), firstFailedAt: entry.firstFailedAt };
  }

  /** Takes back webhooks that waited when the sandbox stopped; they are tried at `retryAllNow()`. */
  restore(saved: readonly SavedWebhook[]): void {
    const nowMs = this.#options.clock.now().getTime();
    for (const webhook of saved) {
      const body = Buffer.from(webhook.body, 'utf8');
      this.#pending.set(webhook.id, {
        id: webhook.id,
        body,
        signature: signBody(body, this.#options.appSecret),
        firstFailedAt: webhook.firstFailedAt,
        retries: 0,
        waitedMs: Math.max(0, nowMs - webhook.firstFailedAt.getTime()),
        inFlight: false,
      });
    }
  }

  /** Tries every waiting webhook now (the receiver is known to be back, or the URL changed). */
  retryAllNow(): void {
    if (this.#stopped) return;
    for (const entry of this.#pending.values()) {
      if (entry.inFlight) continue;
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => void this.#attempt(entry), 0);
    }
  }

  /** Forgets every waiting webhook and duplicate still to go (reset). */
  clear(): void {
    for (const timer of this.#duplicates) clearTimeout(timer);
    this.#duplicates.clear();
    for (const entry of this.#pending.values()) clearTimeout(entry.timer);
    this.#pending.clear();
  }

  /** Aborts what is in flight and cancels the retries; resolves once nothing is in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const [timer, wake] of this.#held) {
      clearTimeout(timer);
      wake();
    }
    this.#held.clear();
    for (const timer of this.#duplicates) clearTimeout(timer);
    this.#duplicates.clear();
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    await this.#poster.stop();
    await Promise.allSettled([...this.#firsts]);
  }

  #delay(): number {
    const max = this.#options.maxDelayMs ?? 0;
    return max > 0 ? Math.floor(this.#random() * (max + 1)) : 0;
  }

  /** The first POST of a webhook; one that failed (or was cut by a stop) waits for its retries. */
  async #first(url: string, body: Buffer, signature: string): Promise<boolean> {
    const ok = await this.#post(url, body, signature, true);
    if (!ok) this.#add(body, signature);
    else if (this.#chance(this.#options.duplicateProbability ?? 0)) this.#duplicate(body, signature);
    return ok;
  }

  /** Waits `ms`, or less when the sender stops meanwhile. */
  #hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#held.delete(timer);
        resolve();
      }, ms);
      this.#held.set(timer, resolve);
    });
  }

  #chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.#random() < p);
  }

  /** The same bytes once more, after their own delay; not retried (the first one arrived). */
  #duplicate(body: Buffer, signature: string): void {
    const timer = setTimeout(() => {
      this.#duplicates.delete(timer);
      const url = this.url;
      if (url === undefined || this.#stopped) return;
      this.duplicated += 1;
      void this.#post(url, body, signature, false);
    }, this.#delay());
    this.#duplicates.add(timer);
  }

  #add(body: Buffer, signature: string): void {
    if (this.#retry.forMs <= 0) {
      this.failed += 1;
      this.#options.logger?.warn('webhook given up: retries are off');
      return;
    }
    while (this.#pending.size >= this.#retry.maxPending) {
      const oldest = this.#pending.values().next();
      if (oldest.done) break;
      this.#forget(oldest.value);
      this.dropped += 1;
      this.#options.logger?.warn('webhook dropped: too many waiting for a retry, the oldest goes', { maxPending: this.#retry.maxPending, dropped: this.dropped });
    }
    this.#counter += 1;
    const entry: PendingWebhook = {
      id: `${this.#idPrefix}.${this.#counter.toString(36)}`,
      body,
      signature,
      firstFailedAt: this.#options.clock.now(),
      retries: 0,
      waitedMs: 0,
      inFlight: false,
    };
    this.#pending.set(entry.id, entry);
    this.#options.onPendingChange?.(entry.id);
    this.#retryLater(entry);
  }

  #forget(entry: PendingWebhook): void {
    clearTimeout(entry.timer);
    this.#pending.delete(entry.id);
    this.#options.onPendingChange?.(entry.id);
  }

  #retryLater(entry: PendingWebhook): void {
    if (this.#stopped || this.#pending.get(entry.id) !== entry) return;
    const delay = nextRetryDelayMs(entry.retries, entry.waitedMs, this.#retry, this.#random());
    if (delay === undefined) {
      this.#forget(entry);
      this.failed += 1;
      this.#options.logger?.warn('webhook given up', { retries: entry.retries, retriedForMs: this.#retry.forMs });
      return;
    }
    entry.waitedMs += delay;
    entry.timer = setTimeout(() => void this.#attempt(entry), delay);
  }

  async #attempt(entry: PendingWebhook): Promise<void> {
    entry.timer = undefined;
    entry.retries += 1;
    this.retries += 1;
    entry.inFlight = true;
    const url = this.url;
    const ok = url !== undefined && (await this.#post(url, entry.body, entry.signature, false));
    entry.inFlight = false;
    if (!ok) {
      this.#retryLater(entry);
      return;
    }
    if (this.#pending.get(entry.id) === entry) this.#forget(entry);
    this.#options.logger?.info('webhook delivered after retries', { retries: entry.retries });
  }

  /** One POST; a failure is logged as a warning on the first attempt, at debug level on retries. */
  async #post(url: string, body: Buffer, signature: string, first: boolean): Promise<boolean> {
    const outcome = await this.#poster.post(url, body, { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature });
    if (outcome.ok) {
      this.delivered += 1;
      return true;
    }
    if (this.#stopped) return false;
    const [message, meta] = 'status' in outcome
      ? ['webhook refused', { status: outcome.status, retryForMs: this.#retry.forMs }]
      : ['webhook failed', { err: outcome.problem, retryForMs: this.#retry.forMs }];
    if (first) this.#options.logger?.warn(message, meta);
    else this.#options.logger?.debug(message, meta);
    return false;
  }
}
