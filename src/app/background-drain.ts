import type { Logger } from './logger.js';

/**
 * Runs a drain function in the background on demand: a kick while it runs makes it run once
 * more afterwards (so nothing stored in between is left waiting), and errors are logged, never
 * thrown. `idle()` waits until no drain is running (tests); `stop()` asks the drain to stop
 * after the item in hand, so a shutdown does not wait for a backlog (it stays stored for the
 * next start), and ignores kicks from then on. With `gatherMs`, a kick waits that long before
 * the drain starts, so that what arrives meanwhile (one status per webhook POST, at a
 * thousand POSTs a second) is handled in one pass instead of one pass each.
 */
export class BackgroundDrain {
  #running: Promise<number> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #again = false;
  readonly #stopping = new AbortController();

  constructor(private readonly drain: (signal: AbortSignal) => Promise<number>, private readonly logger: Logger, private readonly what: string, private readonly gatherMs = 0) {}

  kick(): void {
    if (this.#stopping.signal.aborted) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    if (this.gatherMs > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#start();
      }, this.gatherMs);
      return;
    }
    this.#start();
  }

  #start(): void {
    this.#running = this.drain(this.#stopping.signal)
      .catch((err: unknown) => {
        this.logger.error(`${this.what} failed`, { err: (err as Error).message });
        return 0;
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async idle(): Promise<void> {
    while (this.#running || this.#timer) {
      if (this.#running) await this.#running;
      else await new Promise((resolve) => setTimeout(resolve, this.gatherMs));
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#again = false;
    await this.idle();
  }
}
