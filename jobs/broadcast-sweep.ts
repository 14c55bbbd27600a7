import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * Keeps every broadcast moving to an end: sends still in flight after DELIVERY_UNKNOWN_AFTER_MS
 * (their worker died and no status came) become `unknown` and are not resent; open batches
 * whose job ended (failed for good) get it again; broadcasts with nothing open are marked done.
 */
export const broadcastSweepJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'broadcast-sweep',
  concurrency: 1,
  maxRetries: 0,
  async handle(_data, ctx) {
    const { deliveries, broadcasts, fanOut, scheduler, clock, config } = ctx.deps;
    const now = clock.now();
    const touched = await deliveries.markStaleUnknown(new Date(now.getTime() - config.fanOut.unknownAfterMs), now);
    if (touched.length > 0) ctx.logger.warn('in-flight sends without an answer marked unknown', { broadcasts: touched });
    for (const broadcast of await broadcasts.byStatus('running')) {
      for (const batchId of await broadcasts.openBatches(broadcast.id)) {
        await scheduler.ensureScheduled('fan-out-batch', { batchId }, 'batchId', now);
      }
      await fanOut.finishIfComplete(broadcast.id);
    }
  },
};
