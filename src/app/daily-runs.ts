import { hostname } from 'node:os';
import { createTask, type ScheduledTask } from 'node-cron';
import { loadDailyRuns, type DailyRunSettings } from '../../config/daily-runs.js';
import type { Config } from '../../config/index.js';
import type { TopicContent } from '../domain/broadcast-content.js';
import type { Clock } from '../domain/clock.js';
import { dueSlot } from '../domain/cron-schedule.js';
import { isFinal, runKey, type DailyRunTopic } from '../domain/daily-run.js';
import type { Logger } from '../domain/logger.js';
import { registerDailyRunMetrics, type Metrics } from '../http/metrics.js';
import { DailyRunRepository, type DailyTrigger } from '../store/daily-run-repository.js';
import { runSlot, type DailyRunDeps } from './daily-run.js';
import type { DailyRunJobData, DailyRunner, RunAttempt } from './daily-runner.js';
import type { Services } from './deps.js';
import type { Scheduler } from './scheduler.js';

export interface DailyRunsOptions extends DailyRunDeps {
  /** Schedules the `daily-run` job of a run to run at once, unless it is scheduled or running already. */
  enqueue(job: DailyRunJobData): Promise<void>;
}

/** A topic whose latest finished run failed, for /healthz. */
export interface FailingTopic {
  topic: string;
  slot: string;
  reason: string;
  finishedAt?: string;
}

/** A slot found this much later than it was due was missed by every worker: its run is a catch-up. */
const CATCH_UP_AFTER_MS = 2 * 60_000;

/**
 * The daily runs of a worker. A node-cron tick (every minute, or every second for schedules
 * with seconds) only enqueues: for each topic it asks the domain which slot is due (the latest
 * one within the grace period, right across DST changes) and schedules that slot's `daily-run`
 * job under the slot's key, so several workers produce one job and the run's unique claim makes
 * it one run. The same tick at start catches up on a slot missed while no worker ran, and
 * hands runs whose worker died (lease over) or that wait for a retry to a job again.
 */
export class DailyRuns implements DailyRunner {
  readonly deps: DailyRunDeps;
  /** Topics whose runs this worker schedules. */
  readonly active: ReadonlyMap<string, DailyRunTopic>;
  /** Topics it cannot run, and why (a sandbox source without the built-in sandbox). */
  readonly disabled: readonly { topic: string; reason: string }[];
  readonly #enqueue: DailyRunsOptions['enqueue'];
  readonly #enqueued = new Map<string, string>();
  #task: ScheduledTask | undefined;
  #ticking: Promise<unknown> | undefined;

  constructor(options: DailyRunsOptions) {
    const { enqueue, ...deps } = options;
    this.deps = deps;
    this.#enqueue = enqueue;
    const active = new Map<string, DailyRunTopic>();
    const disabled: { topic: string; reason: string }[] = [];
    for (const [name, topic] of deps.settings.topics) {
      if (topic.source.url.startsWith('sandbox:/') && deps.sandboxUrl === undefined) {
        disabled.push({ topic: name, reason: `its source ${topic.source.url} is the built-in sandbox, which does not run with WHATSAPP_API_BASE set (give the real source's URL in ${deps.settings.file})` });
      } else {
        active.set(name, topic);
      }
    }
    this.active = active;
    this.disabled = disabled;
  }

  /** Runs one attempt of a slot's run (what the `daily-run` job does). */
  run(request: { topic: string; slot: Date; trigger: DailyTrigger; owner: string }): Promise<RunAttempt> {
    return runSlot(this.deps, request);
  }

  /** Enqueues what is due now; returns the keys of the runs it scheduled. */
  async tick(): Promise<string[]> {
    const { clock, config } = this.deps.services;
    const now = clock.now();
    const scheduled: string[] = [];
    const enqueue = async (topic: string, slot: Date, trigger: DailyTrigger): Promise<void> => {
      const run = runKey(topic, slot);
      await this.#enqueue({ run, topic, slot: slot.toISOString(), trigger });
      scheduled.push(run);
    };
    for (const [name, topic] of this.active) {
      const slot = dueSlot(topic.schedule, config.timezone, now, topic.graceMs);
      if (!slot) continue;
      const key = runKey(name, slot);
      if (this.#enqueued.get(name) === key) continue;
      const existing = await this.deps.runs.get(key);
      if (!existing || !isFinal(existing.state)) await enqueue(name, slot, now.getTime() - slot.getTime() > CATCH_UP_AFTER_MS ? 'catch-up' : 'schedule');
      this.#enqueued.set(name, key);
    }
    for (const run of await this.deps.runs.unfinished()) {
      if (!this.active.has(run.topic) || scheduled.includes(run.id)) continue;
      const due = run.state === 'retrying' ? (run.nextAttemptAt?.getTime() ?? 0) <= now.getTime() : (run.leaseUntil?.getTime() ?? 0) <= now.getTime();
      if (due) await enqueue(run.topic, run.slot, run.trigger);
    }
    return scheduled;
  }

  /** The first tick (catching up on a missed slot), then a node-cron tick until `stop`. */
  async start(): Promise<void> {
    for (const { topic, reason } of this.disabled) this.deps.logger.warn(`daily run of ${topic} disabled: ${reason}`);
    if (this.active.size === 0) return;
    await this.#guardedTick();
    const withSeconds = [...this.active.values()].some((t) => t.schedule.fields.seconds.some((s) => s !== 0));
    const { logger } = this.deps;
    this.#task = createTask(withSeconds ? '* * * * * *' : '0 * * * * *', () => this.#guardedTick(), {
      name: 'daily-runs',
      noOverlap: true,
      suppressMissedWarning: true, // a missed tick is caught up by the next one
      logger: {
        info: (message) => logger.debug(message),
        warn: (message) => logger.warn(message),
        error: (message) => logger.error(message instanceof Error ? message.message : message),
        debug: (message) => logger.debug(message instanceof Error ? message.message : message),
      },
    });
    this.#task.start();
  }

  async #guardedTick(): Promise<void> {
    const ticking = this.tick().catch((err: unknown) => this.deps.logger.error('daily-run tick failed', { err: (err as Error).message }));
    this.#ticking = ticking;
    await ticking;
  }

  /** Stops the tick and waits for one in progress. */
  async stop(): Promise<void> {
    this.#task?.destroy();
    this.#task = undefined;
    await this.#ticking;
  }

  /** Topics whose latest finished run failed. */
  async failing(): Promise<FailingTopic[]> {
    const out: FailingTopic[] = [];
    for (const topic of this.deps.settings.topics.keys()) {
      const run = await this.deps.runs.latestFinished(topic);
      if (run?.state === 'failed') out.push({ topic, slot: run.slot.toISOString(), reason: run.reason ?? 'failed', ...(run.finishedAt ? { finishedAt: run.finishedAt.toISOString() } : {}) });
    }
    return out;
  }
}

/** Reads DAILY_RUNS_FILE (a mistake is a ConfigError naming the file and field), before anything starts. */
export function loadDailyRunSettings(config: Config, contents: ReadonlyMap<string, TopicContent>, clock: Clock): DailyRunSettings {
  return loadDailyRuns(config.dailyRunsFile, { contents, environment: config.environment, timezone: config.timezone, now: clock.now() });
}

/**
 * The worker's daily runs: jobs enqueued on the worker's scheduler under the run's key, plan
 * jobs as `npm run publish` schedules them, and the figures for /metrics. `start()` it once the
 * scheduler runs; `stop()` it before the scheduler stops.
 */
export function createDailyRuns(options: { services: Services; scheduler: Scheduler; settings: DailyRunSettings; sandboxUrl: string | undefined; metrics: Metrics; logger: Logger }): DailyRuns {
  const { services, scheduler, settings, metrics } = options;
  const runs = new DailyRunRepository(services.db);
  registerDailyRunMetrics(metrics, runs, [...settings.topics.keys()]);
  return new DailyRuns({
    services,
    runs,
    settings,
    sandboxUrl: options.sandboxUrl,
    logger: options.logger.child({ scope: 'daily-run', worker: `${hostname()}-${process.pid}` }),
    // Agenda runs jobs on real time, whatever clock the decisions use: "at once" is the real now.
    schedulePlan: (broadcastId) => scheduler.scheduleUnique('plan-broadcast', { broadcastId }, 'broadcastId', new Date(Date.now())),
    enqueue: (job) => scheduler.ensureScheduled('daily-run', { ...job }, 'run', new Date(Date.now())),
  });
}
