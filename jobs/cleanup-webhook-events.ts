import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from '../src/app/job-definition.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes handled webhook events older than WEBHOOK_RETENTION_DAYS. They are kept that long
 * only to recognise Meta's retries; a job rather than a TTL index, so it runs on the app's clock.
 */
export const cleanupWebhookEventsJob: JobDefinition<Record<string, never>, AppDeps> = {
  name: 'cleanup-webhook-events',
  concurrency: 1,
  async handle(_data, ctx) {
    const before = new Date(ctx.deps.clock.now().getTime() - ctx.deps.config.webhook.retentionDays * DAY_MS);
    const deleted = await ctx.deps.events.deleteHandledBefore(before);
    ctx.logger.info('deleted old webhook events', { deleted, before: before.toISOString() });
  },
};
