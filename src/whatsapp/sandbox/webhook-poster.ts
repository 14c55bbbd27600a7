import http, { type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';

export interface WebhookPosterOptions {
  /** An answer must have come (status and body) this long after the POST went out; default 5000. */
  timeoutMs?: number;
  /** POSTs under way at once, each on a kept-alive connection; the rest wait their turn in order. Default 16. */
  maxConnections?: number;
}

/** How a POST ended: answered with this status, or not answered (`problem` says why). */
export type PostOutcome = { ok: boolean; status: number } | { ok: false; problem: string };

interface Target {
  module: typeof http | typeof https;
  agent: http.Agent;
  hostname: string;
  port: number;
  path: string;
}

interface Waiting {
  target: Target;
  body: Buffer;
  headers: OutgoingHttpHeaders;
  done(outcome: PostOutcome): void;
}

/**
 * Bounded, kept-alive POSTs with `node:http`: at most `maxConnections` under way (a queue holds
 * the rest, so a POST's time limit starts when it goes out, not while it waits), each with its
 * own timer. What is under way is tracked one by one, so `stop()` ends it all at once, without a
 * listener per request on a shared signal. Redirects are not followed (a 3xx is an answer).
 */
export class WebhookPoster {
  readonly #timeoutMs: number;
  readonly #maxConnections: number;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #active = new Set<ClientRequest>();
  /** Waiting POSTs from `#head` on (taken ones are cleared; the array is cut now and then). */
  #queue: (Waiting | undefined)[] = [];
  #head = 0;
  #target: { url: string; target: Target } | undefined;
  #stopped = false;

  constructor(options: WebhookPosterOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxConnections = options.maxConnections ?? 16;
    // `timeout` makes Node close an idle connection before the receiver's announced keep-alive
    // runs out (see CloudApiClient), so a POST does not go out on a connection being closed.
    const agent = { keepAlive: true, maxSockets: this.#maxConnections, timeout: this.#timeoutMs };
    this.#agents = { http: new http.Agent(agent), https: new https.Agent(agent) };
  }

  /** POSTs waiting for their turn or under way. */
  get size(): number {
    return this.#queue.length - this.#head + this.#active.size;
  }

  /** Sends `body` to `url`; resolves with the answer's status, or why there was none. Never rejects. */
  post(url: string, body: Buffer, headers: OutgoingHttpHeaders): Promise<PostOutcome> {
    if (this.#stopped) return Promise.resolve({ ok: false, problem: 'stopped' });
    let target: Target;
    try {
      target = this.#targetOf(url);
    } catch (err) {
      return Promise.resolve({ ok: false, problem: (err as Error).message });
    }
    return new Promise((done) => {
      this.#queue.push({ target, body, headers: { ...headers, 'Content-Length': body.length }, done });
      this.#next();
    });
  }

  /** Ends every POST (waiting ones resolve as not answered, ones under way are cut) and closes the connections. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (let post = this.#take(); post; post = this.#take()) post.done({ ok: false, problem: 'stopped' });
    const cut = [...this.#active].map((request) => new Promise<void>((resolve) => {
      request.once('close', resolve);
      request.destroy();
    }));
    await Promise.all(cut);
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  #targetOf(url: string): Target {
    if (this.#target?.url === url) return this.#target.target;
    const parsed = new URL(url);
    const secure = parsed.protocol === 'https:';
    if (!secure && parsed.protocol !== 'http:') throw new Error(`not an http(s) URL: ${parsed.protocol}`);
    const target: Target = {
      module: secure ? https : http,
      agent: secure ? this.#agents.https : this.#agents.http,
      hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port === '' ? (secure ? 443 : 80) : Number(parsed.port),
      path: `${parsed.pathname}${parsed.search}`,
    };
    this.#target = { url, target };
    return target;
  }

  /** Sends waiting POSTs while there is room. */
  #next(): void {
    while (!this.#stopped && this.#active.size < this.#maxConnections) {
      const post = this.#take();
      if (!post) return;
      this.#send(post);
    }
  }

  /** The oldest waiting POST, taken off the queue. */
  #take(): Waiting | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const post = this.#queue[this.#head];
    this.#queue[this.#head] = undefined;
    this.#head += 1;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return post;
  }

  #send(post: Waiting): void {
    const { target } = post;
    const request = target.module.request({ method: 'POST', hostname: target.hostname, port: target.port, path: target.path, agent: target.agent, headers: post.headers });
    this.#active.add(request);
    let settled = false;
    let timedOut = false;
    const settle = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#active.delete(request);
      post.done(outcome);
      this.#next();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      request.destroy();
    }, this.#timeoutMs);
    request.once('response', (response) => {
      const status = response.statusCode ?? 0;
      // Read the answer to its end, so that the connection can take the next POST.
      response.resume();
      response.once('end', () => settle({ ok: status >= 200 && status < 300, status }));
      response.once('error', (err) => settle({ ok: false, problem: timedOut ? this.#timeoutProblem() : err.message }));
    });
    request.once('error', (err) => settle({ ok: false, problem: timedOut ? this.#timeoutProblem() : this.#stopped ? 'stopped' : err.message }));
    request.once('close', () => settle({ ok: false, problem: timedOut ? this.#timeoutProblem() : 'connection closed before the answer' }));
    request.end(post.body);
  }

  #timeoutProblem(): string {
    return `timeout of ${this.#timeoutMs}ms exceeded`;
  }
}
