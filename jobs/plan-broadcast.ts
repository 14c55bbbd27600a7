import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/** Splits a new broadcast into key-range batches and schedules a fan-out job for each. Safe to repeat. */
export const planBroadcastJob: JobDefinition<{ broadcastId: string }, AppDeps> = {
  name: 'plan-broadcast',
  concurrency: 2,
  async handle(data, ctx) {
    const batches = await ctx.deps.fanOut.plan(data.broadcastId);
    ctx.logger.info('broadcast planned', { broadcastId: data.broadcastId, batches });
  },
};
