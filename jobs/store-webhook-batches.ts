import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * Stores the events of webhook batches that were answered but whose worker died (or stopped)
 * before storing them: the receiving worker normally does it at once.
 */
export const storeWebhookBatchesJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'store-webhook-batches',
  concurrency: 1,
  maxRetries: 0,
  async handle(_data, ctx) {
    const taken = await ctx.deps.webhookBatches.sweep(ctx.signal);
    if (taken > 0) ctx.logger.info('stored the events of abandoned webhook batches', { batches: taken });
  },
};
