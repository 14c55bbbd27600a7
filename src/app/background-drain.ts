import type { Logger } from './logger.js';

/**
 * Runs a drain function in the background on demand: a kick while it runs makes it run once
 * more afterwards (so nothing stored in between is left waiting), and errors are logged, never
 * thrown. `idle()` waits until no drain is running (shutdown, tests).
 */
export class BackgroundDrain {
  #running: Promise<number> | undefined;
  #again = false;

  constructor(private readonly drain: () => Promise<number>, private readonly logger: Logger, private readonly what: string) {}

  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.drain()
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
}
