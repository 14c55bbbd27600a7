import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

/**
 * Sweeps up inbound messages nobody handled: the webhook normally starts their handling at
 * once, but a worker may have died in between. Runs every few seconds on one worker at a time.
 */
export const processInboundJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'process-inbound',
  concurrency: 1,
  maxRetries: 0,
  async handle(_data, ctx) {
    const handled = await ctx.deps.inbound.drain(ctx.signal);
    if (handled > 0) ctx.logger.info('handled waiting inbound messages', { handled });
  },
};
