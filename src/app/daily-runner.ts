import type { DailyRun, DailyTrigger } from '../store/daily-run-repository.js';

/** The data of a `daily-run` job: one per topic and slot (`run` is the key). */
export interface DailyRunJobData {
  run: string;
  topic: string;
  /** ISO instant. */
  slot: string;
  trigger: DailyTrigger;
}

export type RunAttempt =
  | { kind: 'finished'; run: DailyRun }
  /** The fetch failed; the run fetches again after `retryInMs`. */
  | { kind: 'retrying'; run: DailyRun; retryInMs: number; error: string }
  /** Finished before, or running elsewhere: nothing done. */
  | { kind: 'not-claimed'; run: DailyRun };

/** What the `daily-run` job needs of the worker's daily runs (declared apart, so the deps do not import the run). */
export interface DailyRunner {
  /** Runs one attempt of a slot's run. */
  run(request: { topic: string; slot: Date; trigger: DailyTrigger; owner: string }): Promise<RunAttempt>;
}
