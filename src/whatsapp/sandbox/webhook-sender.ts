import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';
import type { Clock } from '../../domain/clock.js';
import type { Logger } from '../../domain/logger.js';
import { signBody } from '../webhook-signature.js';
import type { SavedWebhook } from './sandbox-store.js';
import { metaJson } from './webhook-payloads.js';
import { DEFAULT_WEBHOOK_RETRY, nextRetryDelayMs, type WebhookRetryPolicy } from './webhook-retry.js';

export interface WebhookSenderOptions {
  appSecret: string;
  url?: string;
  /** When a first attempt failed (kept with the webhook, so that a restart does not start its retry time again). */
  clock: Clock;
  /** Default DEFAULT_WEBHOOK_RETRY: for 24 h, waits from 1 s doubling up to 1 min, at most 10,000 waiting. */
  retry?: Partial<WebhookRetryPolicy>;
  timeoutMs?: number;
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
  readonly #agents = [new http.Agent({ keepAlive: true, maxSockets: 16 }), new https.Agent({ keepAlive: true, maxSockets: 16 })] as const;
  readonly #pending = new Map<string, PendingWebhook>();
  readonly #inFlight = new Set<Promise<boolean>>();
  readonly #duplicates = new Set<NodeJS.Timeout>();
  readonly #abort = new AbortController();
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #counter = 0;
  #stopped = false;
  /** Webhooks waiting out their delay before the first POST. */
  #held = 0;

  constructor(options: WebhookSenderOptions) {
    this.#options = options;
    this.#retry = { ...DEFAULT_WEBHOOK_RETRY, ...options.retry };
    this.#random = options.random ?? Math.random;
    this.url = options.url;
    // Every POST in flight listens on this one signal (stop aborts them all); a busy sandbox
    // has more than Node's default of 10 in flight, which is not a leak.
    setMaxListeners(0, this.#abort.signal);
  }

  /** Webhooks waiting for a retry. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Webhooks on their way: held back by a delay, a duplicate still to go, or a POST under way. */
  get inFlight(): number {
    return this.#held + this.#duplicates.size + this.#inFlight.size;
  }

  /**
   * Posts once; on failure the webhook waits for its retries. Resolves with whether this first
   * attempt got a 2xx. Without a URL nothing is sent (and nothing retried). After `stop()` the
   * webhook is not sent but kept as waiting, for a store to carry it over to the next start.
   */
  async deliver(payload: unknown): Promise<boolean> {
    if (this.url === undefined) return false;
    const body = Buffer.from(metaJson(payload));
    const delayMs = this.#delay();
    if (delayMs > 0 && !this.#stopped) {
      this.#held += 1;
      try {
        await sleep(delayMs, undefined, { signal: this.#abort.signal });
      } catch {
        // Stopped while held back: kept as waiting, below.
      } finally {
        this.#held -= 1;
      }
    }
    const url = this.url;
    if (url === undefined) return false;
    if (this.#stopped) {
      this.#add(body);
      return false;
    }
    const ok = await this.#post(url, body, true);
    if (!ok) this.#add(body);
    else if (this.#chance(this.#options.duplicateProbability ?? 0)) this.#duplicate(body);
    return ok;
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
      this.#pending.set(webhook.id, {
        id: webhook.id,
        body: Buffer.from(webhook.body, 'utf8'),
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
    this.#abort.abort();
    for (const timer of this.#duplicates) clearTimeout(timer);
    this.#duplicates.clear();
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    await Promise.allSettled([...this.#inFlight]);
    for (const agent of this.#agents) agent.destroy();
  }

  #delay(): number {
    const max = this.#options.maxDelayMs ?? 0;
    return max > 0 ? Math.floor(this.#random() * (max + 1)) : 0;
  }

  #chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.#random() < p);
  }

  /** The same bytes once more, after their own delay; not retried (the first one arrived). */
  #duplicate(body: Buffer): void {
    const timer = setTimeout(() => {
      this.#duplicates.delete(timer);
      const url = this.url;
      if (url === undefined || this.#stopped) return;
      this.duplicated += 1;
      void this.#post(url, body, false);
    }, this.#delay());
    this.#duplicates.add(timer);
  }

  #add(body: Buffer): void {
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
    const ok = url !== undefined && (await this.#post(url, entry.body, false));
    entry.inFlight = false;
    if (!ok) {
      this.#retryLater(entry);
      return;
    }
    if (this.#pending.get(entry.id) === entry) this.#forget(entry);
    this.#options.logger?.info('webhook delivered after retries', { retries: entry.retries });
  }

  /** One POST; a failure is logged as a warning on the first attempt, at debug level on retries. */
  #post(url: string, body: Buffer, first: boolean): Promise<boolean> {
    const log = (message: string, meta: Record<string, unknown>) => (first ? this.#options.logger?.warn(message, meta) : this.#options.logger?.debug(message, meta));
    const attempt = (async () => {
      try {
        const response = await axios.post(url, body, {
          headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signBody(body, this.#options.appSecret) },
          httpAgent: this.#agents[0],
          httpsAgent: this.#agents[1],
          timeout: this.#options.timeoutMs ?? 5000,
          signal: this.#abort.signal,
          validateStatus: () => true,
          maxRedirects: 0,
        });
        const ok = response.status >= 200 && response.status < 300;
        if (ok) this.delivered += 1;
        else log('webhook refused', { status: response.status, retryForMs: this.#retry.forMs });
        return ok;
      } catch (err) {
        if (!this.#abort.signal.aborted) log('webhook failed', { err: (err as Error).message, retryForMs: this.#retry.forMs });
        return false;
      }
    })();
    this.#inFlight.add(attempt);
    void attempt.finally(() => this.#inFlight.delete(attempt));
    return attempt;
  }
}
