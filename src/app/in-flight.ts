/**
 * Promises still running, so that a stop (or a test) can wait until they have all settled:
 * work started from outside a component's own loop, which its own shutdown does not see.
 */
export class InFlight {
  readonly #running = new Set<Promise<unknown>>();

  /** Returns `work` itself, counted until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work)).catch(() => undefined);
    return work;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Resolves once nothing tracked is running, including work tracked while it waits. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }
}
