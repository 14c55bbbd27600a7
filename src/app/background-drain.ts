import type { Logger } from './logger.js';

/**
 * Runs a drain function in the background on demand: a kick while it runs makes it run once
 * more afterwards (so nothing stored in between is left waiting), and errors are logged, never
 * thrown. `idle()` waits until no drain is running (tests); `stop()` asks the drain to stop
 * after the item in hand, so a shutdown does not wait for a backlog (it stays stored for the
 * next start), and ignores kicks from then on.
 */
export class BackgroundDrain {
  #running: Promise<number> | undefined;
  #again = false;
  readonly #stopping = new AbortController();

  constructor(private readonly drain: (signal: AbortSignal) => Promise<number>, private readonly logger: Logger, private readonly what: string) {}

  kick(): void {
    if (this.#stopping.signal.aborted) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
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
    while (this.#running) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#again = false;
    await this.idle();
  }
}
