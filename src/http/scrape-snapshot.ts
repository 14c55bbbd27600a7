/** A scrape waits no longer than this for figures from the database, then shows the last ones read. */
export const SCRAPE_READ_MS = 1500;

export interface ScrapeSnapshot<T> {
  /** The figures: read again when older than the time to keep them, shared by concurrent collectors. */
  get(): Promise<T>;
  /** The next `get` reads again. */
  invalidate(): void;
}

/**
 * Figures read from the database for a scrape. prom-client collects gauges concurrently, so
 * they share one read; a scrape must answer while the database is down (that is when it
 * matters), so a read that fails or takes longer than SCRAPE_READ_MS gives the last good figures.
 */
export function scrapeSnapshot<T>(read: () => Promise<T>, initial: T, keepMs: number): ScrapeSnapshot<T> {
  let lastGood = initial;
  let pending: { at: number; value: Promise<T> } | undefined;
  const readOrLast = async (): Promise<T> => {
    try {
      lastGood = await read();
    } catch {
      // keep the last figures
    }
    return lastGood;
  };
  return {
    get() {
      if (!pending || performance.now() - pending.at > keepMs) {
        let timer: NodeJS.Timeout | undefined;
        const bounded = Promise.race([readOrLast(), new Promise<T>((resolve) => (timer = setTimeout(() => resolve(lastGood), SCRAPE_READ_MS)))]);
        pending = { at: performance.now(), value: bounded.finally(() => clearTimeout(timer)) };
      }
      return pending.value;
    },
    invalidate() {
      pending = undefined;
    },
  };
}
