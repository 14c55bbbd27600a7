import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * One pruning pass (hourly): subscribers who stopped replying leave the topic's list, with the
 * reason on their subscription. Safe to run twice or from several workers: the removal is a
 * guarded update, so a second pass removes nobody again. A pass stopped by a shutdown runs
 * again at once on whichever worker is left.
 */
export const pruneSubscribersJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'prune-subscribers',
  concurrency: 1,
  maxRetries: 0, // the next pass is the retry
  async handle(_data, ctx) {
    const report = await ctx.deps.pruner.prune(ctx.deps.clock.now(), ctx.signal);
    ctx.logger.info('pruning pass', { removed: report.removed, total: report.total, examined: report.examined, interrupted: report.interrupted });
    if (report.interrupted) ctx.runAgainIn(0);
  },
};
