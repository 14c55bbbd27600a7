import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';
import type { Logger } from '../../domain/logger.js';
import { signBody } from '../webhook-signature.js';

export interface WebhookSenderOptions {
  appSecret: string;
  url?: string;
  /** Waits before each retry of a POST the receiver did not answer with 2xx (Meta retries for days). */
  retryDelaysMs?: readonly number[];
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Delivers webhook bodies to the worker like Meta does: a JSON POST signed with
 * `X-Hub-Signature-256` over the exact bytes, retried when not answered with 2xx.
 * `stop()` aborts what is in flight and cancels pending retries.
 */
export class WebhookSender {
  url: string | undefined;
  delivered = 0;
  failed = 0;
  readonly #options: WebhookSenderOptions;
  readonly #agents = [new http.Agent({ keepAlive: true, maxSockets: 16 }), new https.Agent({ keepAlive: true, maxSockets: 16 })] as const;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #abort = new AbortController();

  constructor(options: WebhookSenderOptions) {
    this.#options = options;
    this.url = options.url;
    // Every POST in flight listens on this one signal (stop aborts them all); a busy sandbox
    // has more than Node's default of 10 in flight, which is not a leak.
    setMaxListeners(0, this.#abort.signal);
  }

  /** Posts once; on failure retries in the background. Resolves with whether the first attempt got a 2xx. */
  async deliver(payload: unknown): Promise<boolean> {
    const url = this.url;
    if (url === undefined || this.#abort.signal.aborted) return false;
    const body = Buffer.from(JSON.stringify(payload));
    const ok = await this.#post(url, body);
    if (!ok) this.#retry(url, body, 0);
    return ok;
  }

  stop(): void {
    this.#abort.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const agent of this.#agents) agent.destroy();
  }

  #retry(url: string, body: Buffer, attempt: number): void {
    const delays = this.#options.retryDelaysMs ?? [250, 1000, 5000];
    const delay = delays[attempt];
    if (delay === undefined || this.#abort.signal.aborted) {
      this.failed += 1;
      this.#options.logger?.warn('webhook given up', { attempts: attempt + 1 });
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#post(url, body).then((ok) => {
        if (!ok) this.#retry(url, body, attempt + 1);
      });
    }, delay);
    this.#timers.add(timer);
  }

  async #post(url: string, body: Buffer): Promise<boolean> {
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
      else this.#options.logger?.warn('webhook refused', { status: response.status });
      return ok;
    } catch (err) {
      if (!this.#abort.signal.aborted) this.#options.logger?.warn('webhook failed', { err: (err as Error).message });
      return false;
    }
  }
}
