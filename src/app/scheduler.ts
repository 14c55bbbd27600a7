import { hostname } from 'node:os';
import { Agenda, type Job } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import type { Db } from 'mongodb';
import type { JobDefinition } from '../../jobs/job-definition.js';
import { backoff, DEFAULT_BACKOFF } from '../domain/backoff.js';
import type { Logger } from './logger.js';

export type SchedulerState = 'stopped' | 'running' | 'draining';

export interface Scheduler {
  readonly agenda: Agenda;
  state(): SchedulerState;
  start(): Promise<void>;
  /** Lets running jobs finish for up to `timeoutMs`, then unlocks what is left for other workers. */
  stop(timeoutMs: number): Promise<void>;
}

export interface SchedulerOptions<Deps> {
  db: Db;
  logger: Logger;
  pollIntervalMs: number;
  /** Default lock lifetime; a running job renews its lock three times per lifetime. */
  lockLifetimeMs: number;
  jobs: readonly JobDefinition<never, Deps>[];
  deps: Deps;
}

export const JOBS_COLLECTION = 'jobs';

/** Agenda on the app's own connection, with every job wrapped for logging and retry advice. */
export function createScheduler<Deps>(options: SchedulerOptions<Deps>): Scheduler {
  const { logger } = options;
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: options.db, collection: JOBS_COLLECTION }),
    name: `${hostname()}-${process.pid}`,
    processEvery: options.pollIntervalMs,
  });
  agenda.on('error', (err) => logger.error('scheduler error', { err: err.message }));

  for (const definition of options.jobs) {
    const maxAttempts = definition.maxRetries ?? DEFAULT_BACKOFF.maxAttempts;
    const lockLifetime = definition.lockLifetimeMs ?? options.lockLifetimeMs;
    agenda.define(
      definition.name,
      async (job: Job<never>) => {
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
          await definition.handle(job.attrs.data, { logger: scoped, jobId, attempt, deps: options.deps });
          scoped.debug('job done', { ms: Math.round(performance.now() - started) });
        } catch (err) {
          scoped.warn('job failed', { ms: Math.round(performance.now() - started), err: (err as Error).message, code: (err as { code?: unknown }).code });
          throw err;
        } finally {
          clearInterval(renew);
        }
      },
      {
        concurrency: definition.concurrency,
        lockLifetime,
        backoff: ({ attempt, error }) => backoff(attempt, error, Math.random(), { ...DEFAULT_BACKOFF, maxAttempts }),
      },
    );
  }

  let state: SchedulerState = 'stopped';
  return {
    agenda,
    state: () => state,
    async start() {
      await agenda.start();
      state = 'running';
    },
    async stop(timeoutMs) {
      if (state === 'stopped') return;
      state = 'draining';
      const result = await agenda.drain({ timeout: timeoutMs, closeConnection: false });
      if (result.timedOut) logger.warn('jobs still running at shutdown were unlocked for other workers', { running: result.running });
      await agenda.stop(false);
      state = 'stopped';
    },
  };
}
