import { hostname } from 'node:os';
import { Agenda, type Job } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import type { JobDefinition } from './job-definition.js';
import { backoff, DEFAULT_BACKOFF } from '../domain/backoff.js';
import { repairExpiredQueuedJobs } from './agenda-repair.js';
import type { Releasers } from './lifecycle.js';
import type { Logger } from './logger.js';

export type SchedulerState = 'stopped' | 'running' | 'draining';

export interface Scheduler<Deps = unknown> {
  readonly agenda: Agenda;
  /** The deps handed to job handlers, when they can only be built after the scheduler. */
  setDeps(deps: Deps): void;
  state(): SchedulerState;
  /** Schedules job `name` at `at`, one job per `uniqueKey` value of its data (a later call moves it). */
  scheduleUnique(name: string, data: Record<string, string>, uniqueKey: string, at: Date): Promise<void>;
  /** Like scheduleUnique, but leaves a job alone that is already due later or running. */
  ensureScheduled(name: string, data: Record<string, string>, uniqueKey: string, at: Date): Promise<void>;
  start(): Promise<void>;
  /**
   * Lets running jobs finish for up to `timeoutMs`, then unlocks what is left for other workers.
   * Call it before closing the database, also for a scheduler that was never started: Agenda
   * starts connecting its backend when it is created, and that must end before the connection.
   */
  stop(timeoutMs: number): Promise<void>;
}

export interface SchedulerOptions<Deps> {
  db: Db;
  logger: Logger;
  pollIntervalMs: number;
  /** Default lock lifetime; a running job renews its lock three times per lifetime. */
  lockLifetimeMs: number;
  jobs: readonly JobDefinition<never, Deps>[];
  /** Given here or later with `setDeps`, before the first job runs. */
  deps?: Deps;
}

export const JOBS_COLLECTION = 'jobs';

/** Agenda on the app's own connection, with every job wrapped for logging and retry advice. */
export function createScheduler<Deps>(options: SchedulerOptions<Deps>): Scheduler<Deps> {
  const { logger } = options;
  // Without it, a worker stops taking jobs of a name after a database outage (agenda-repair.ts).
  if (!repairExpiredQueuedJobs()) logger.warn('Agenda no longer has the code agenda-repair.ts mends: check that jobs whose lock expired before they ran are still released');
  let deps = options.deps;
  let shutdown = new AbortController();
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: options.db, collection: JOBS_COLLECTION }),
    name: `${hostname()}-${process.pid}`,
    processEvery: options.pollIntervalMs,
  });
  agenda.on('error', (err) => logger.error('scheduler error', { err: err.message }));

  for (const definition of options.jobs) {
    const maxAttempts = definition.maxRetries ?? DEFAULT_BACKOFF.maxAttempts;
    const lockLifetime = definition.lockLifetimeMs ?? options.lockLifetimeMs;
    const concurrency = definition.concurrency ?? agenda.attrs.defaultConcurrency;
    agenda.define(
      definition.name,
      async (job: Job<never>) => {
        if (deps === undefined) throw new Error('job deps not set (setDeps before start)');
        const attempt = (job.attrs.failCount ?? 0) + 1;
        const jobId = String(job.attrs._id);
        const scoped = logger.child({ job: definition.name, jobId, attempt });
        const started = performance.now();
        scoped.debug('job started');
        // Renew the lock while the handler runs, so a short lifetime only hands over dead workers' jobs.
        const renew = setInterval(() => {
          job.touch().catch((err: unknown) => scoped.warn('could not renew job lock', { err: (err as Error).message }));
        }, Math.max(Math.floor(lockLifetime / 3), 200));
        try {
          await definition.handle(job.attrs.data, {
            logger: scoped, jobId, attempt, deps, signal: shutdown.signal,
            // Agenda saves the job after the handler returns, keeping this nextRunAt. Agenda
            // schedules in real time, whatever clock the app's decisions use.
            runAgainIn: (ms) => {
              job.attrs.nextRunAt = new Date(Date.now() + ms);
            },
          });
          scoped.debug('job done', { ms: Math.round(performance.now() - started) });
        } catch (err) {
          scoped.warn('job failed', { ms: Math.round(performance.now() - started), err: (err as Error).message, code: (err as { code?: unknown }).code });
          throw err;
        } finally {
          clearInterval(renew);
        }
      },
      {
        concurrency,
        // Lock no more runs than can start: Agenda's default (no limit) lets the first worker to
        // poll lock every due job of the name, and the other workers get none of a broadcast's batches.
        lockLimit: concurrency,
        lockLifetime,
        backoff: ({ attempt, error }) => backoff(attempt, error, Math.random(), { ...DEFAULT_BACKOFF, maxAttempts }),
      },
    );
  }

  let state: SchedulerState = 'stopped';
  return {
    agenda,
    state: () => state,
    setDeps(next) {
      deps = next;
    },
    async scheduleUnique(name, data, uniqueKey, at) {
      await agenda.ready;
      await agenda.create(name, data).unique({ [`data.${uniqueKey}`]: data[uniqueKey] }).schedule(at).save();
    },
    async ensureScheduled(name, data, uniqueKey, at) {
      await agenda.ready;
      const job = await options.db.collection(JOBS_COLLECTION).findOne({ name, [`data.${uniqueKey}`]: data[uniqueKey] });
      if (job && (job.nextRunAt != null || job.lockedAt != null)) return;
      await agenda.create(name, data).unique({ [`data.${uniqueKey}`]: data[uniqueKey] }).schedule(at).save();
    },
    async start() {
      if (shutdown.signal.aborted) shutdown = new AbortController();
      await agenda.start();
      state = 'running';
    },
    async stop(timeoutMs) {
      // Agenda's constructor starts the backend's connect (index creation) without handling its
      // failure: a connection closed under it crashes the process with an unhandled rejection.
      await agenda.ready;
      if (state === 'stopped') return;
      state = 'draining';
      shutdown.abort();
      const result = await agenda.drain({ timeout: timeoutMs, closeConnection: false });
      if (result.timedOut) logger.warn('jobs still running at shutdown were unlocked for other workers', { running: result.running });
      await agenda.stop(false);
      state = 'stopped';
    },
  };
}

/**
 * For a command that may schedule a job but never runs any: the scheduler is created on first
 * use (its stop registered), never started.
 */
export function lazyScheduler(db: Db, config: Config, logger: Logger, releasers: Releasers): () => Scheduler {
  let scheduler: Scheduler | undefined;
  return () => {
    if (scheduler) return scheduler;
    const created = createScheduler({ db, logger, pollIntervalMs: config.jobs.pollIntervalMs, lockLifetimeMs: config.jobs.lockLifetimeMs, jobs: [] });
    releasers.add('scheduler', () => created.stop(0));
    scheduler = created;
    return created;
  };
}
