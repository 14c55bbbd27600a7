import type { DailyRunJobData } from '../src/app/daily-runner.js';
import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * The daily run of one topic's slot, enqueued by the daily-run tick under the slot's key. The
 * run's own claim makes it one run whoever else tries; a failed fetch runs the job again after
 * the backoff, until the slot's grace period ends.
 */
export const dailyRunJob: JobDefinition<DailyRunJobData, AppDeps> = {
  name: 'daily-run',
  concurrency: 2,
  async handle(data, ctx) {
    const attempt = await ctx.deps.daily.run({ topic: data.topic, slot: new Date(data.slot), trigger: data.trigger, owner: `job:${ctx.jobId}` });
    if (attempt.kind === 'retrying') ctx.runAgainIn(attempt.retryInMs);
    else if (attempt.kind === 'not-claimed') ctx.logger.debug('daily run not claimed', { run: data.run, state: attempt.run.state });
  },
};
