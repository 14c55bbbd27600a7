import type { Logger } from './logger.js';

interface Releaser {
  name: string;
  release(): Promise<void>;
}

/**
 * Everything started registers how to stop it; `releaseAll` stops in reverse order of start.
 * One failing step is logged and does not keep the others from stopping.
 */
export class Releasers {
  readonly #stack: Releaser[] = [];
  #releasing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  add(name: string, release: () => Promise<void>): void {
    this.#stack.push({ name, release });
  }

  releaseAll(): Promise<void> {
    this.#releasing ??= (async () => {
      for (const { name, release } of this.#stack.splice(0).reverse()) {
        const started = performance.now();
        try {
          await release();
          this.logger.debug('stopped', { part: name, ms: Math.round(performance.now() - started) });
        } catch (err) {
          this.logger.error('failed to stop cleanly', { part: name, err: (err as Error).message });
        }
      }
    })();
    return this.#releasing;
  }
}

/**
 * A Ctrl-C reaches the worker more than once: from the terminal (to the whole process group)
 * and relayed by `npm`. Signals this close to the first count as the same one.
 */
const DUPLICATE_SIGNAL_MS = 1000;

/**
 * SIGTERM or SIGINT stops gracefully, and exits with 1 if that takes longer than `timeoutMs`;
 * a second signal exits at once. Returns a function that removes the handlers.
 */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger, timeoutMs: number): () => void {
  let firstAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstAt !== undefined) {
      if (performance.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
      logger.warn(`second ${signal}: exiting now`);
      process.exit(130);
    }
    firstAt = performance.now();
    logger.info(`${signal} received: stopping (send it again to force)`);
    const timer = setTimeout(() => {
      logger.error(`graceful stop took longer than ${timeoutMs} ms: exiting`);
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => {
        clearTimeout(timer);
        process.exitCode ??= 0;
      },
      (err: unknown) => {
        logger.error('stop failed', { err: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
