import type { AppDeps } from '../src/app/deps.js';
import { cleanupWebhookEventsJob } from './cleanup-webhook-events.js';
import type { JobDefinition } from './job-definition.js';
import { processInboundJob } from './process-inbound.js';

/** Every job the worker runs. */
export const JOBS: readonly JobDefinition<never, AppDeps>[] = [processInboundJob, cleanupWebhookEventsJob];

/** Recurring jobs: Agenda keeps one document per name, so several workers schedule them once. */
export const RECURRING: readonly { name: string; every: string }[] = [
  { name: processInboundJob.name, every: '10 seconds' },
  { name: cleanupWebhookEventsJob.name, every: '1 hour' },
];
