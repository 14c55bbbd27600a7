import type { Config } from '../../config/index.js';
import type { Logger } from '../domain/logger.js';

/** What a job handler gets besides its data: a logger scoped to the run, and the app's deps. */
export interface JobContext<Deps> {
  logger: Logger;
  jobId: string;
  /** 1 for the first run, 2 for the first retry, ... */
  attempt: number;
  deps: Deps;
  /** Runs this job again `ms` from now (real time) after it returns: work due later, such as retries. */
  runAgainIn(ms: number): void;
  /**
   * Aborted when the worker begins to shut down: a long handler stops after the item in hand
   * and returns (with `runAgainIn(0)` if work is left, so another worker takes it over).
   */
  signal: AbortSignal;
}

/**
 * One Agenda job: its name, options and handler. Every handler must be safe to run twice:
 * locks expire, processes die and retries happen.
 */
export interface JobDefinition<Data, Deps> {
  name: string;
  /** Runs of this job at once in one process, and the most it locks at once: other workers take the rest. */
  concurrency?: number;
  /** How long a run may hold its lock before another worker may take the job over. */
  lockLifetimeMs?: number;
  /** Retries allowed after a transient failure. */
  maxRetries?: number;
  handle(data: Data, ctx: JobContext<Deps>): Promise<void>;
}

/**
 * The jobs a worker runs, handed to `startWorker` by the entry point (jobs/index.ts), so that
 * the wiring in src/app does not import the jobs that import it. Recurring jobs keep one
 * document per name in Agenda, so several workers schedule each once.
 */
export interface JobSet<Deps> {
  jobs: readonly JobDefinition<never, Deps>[];
  /** `every`: a human interval (`10 seconds`), or milliseconds read from the configuration. */
  recurring: readonly { name: string; every: string | ((config: Config) => number) }[];
}
