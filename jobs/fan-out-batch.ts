import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * Sends one batch of a broadcast. Runs again when retries are due later; a restart resumes
 * where it stopped, because every contact's delivery record says what was done.
 */
export const fanOutBatchJob: JobDefinition<{ batchId: string }, AppDeps> = {
  name: 'fan-out-batch',
  concurrency: 2,
  async handle(data, ctx) {
    const againInMs = await ctx.deps.fanOut.runBatch(data.batchId, ctx.logger, ctx.signal);
    if (againInMs !== undefined) ctx.runAgainIn(againInMs);
  },
};
