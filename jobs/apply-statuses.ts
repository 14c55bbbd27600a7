import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/** Applies stored status webhooks nobody applied (the worker that stored them normally did at once). */
export const applyStatusesJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'apply-statuses',
  concurrency: 1,
  maxRetries: 0,
  async handle(_data, ctx) {
    const applied = await ctx.deps.statuses.sweep(ctx.signal);
    if (applied > 0) ctx.logger.debug('applied waiting statuses', { applied });
  },
};
