import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * One pass of the window keeper: nudges the subscribers whose window closes soon (at most one
 * nudge per contact and window, whichever worker runs the pass).
 */
export const keepWindowsJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'keep-windows',
  concurrency: 1,
  maxRetries: 0,
  async handle(_data, ctx) {
    const pass = await ctx.deps.keeper.pass(ctx.signal);
    const skipped = Object.values(pass.skipped).reduce((a, b) => a + b, 0);
    if (pass.sent + pass.failed + skipped > 0) ctx.logger.info('window keeper pass', { ...pass });
  },
};
