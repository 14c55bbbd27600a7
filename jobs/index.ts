import type { AppDeps } from '../src/app/deps.js';
import { sweepIntervalMs } from '../src/domain/delivery-policy.js';
import { applyStatusesJob } from './apply-statuses.js';
import { broadcastSweepJob } from './broadcast-sweep.js';
import { cleanupWebhookEventsJob } from './cleanup-webhook-events.js';
import { dailyRunJob } from './daily-run.js';
import { fanOutBatchJob } from './fan-out-batch.js';
import { keepWindowsJob } from './keep-windows.js';
import type { JobDefinition, JobSet } from '../src/app/job-definition.js';
import { planBroadcastJob } from './plan-broadcast.js';
import { processInboundJob } from './process-inbound.js';
import { pruneSubscribersJob } from './prune-subscribers.js';
import { storeWebhookBatchesJob } from './store-webhook-batches.js';

/** Every job the worker runs. */
export const JOBS: readonly JobDefinition<never, AppDeps>[] = [
  storeWebhookBatchesJob, processInboundJob, applyStatusesJob, planBroadcastJob, fanOutBatchJob, broadcastSweepJob, cleanupWebhookEventsJob, dailyRunJob, keepWindowsJob, pruneSubscribersJob,
] as readonly JobDefinition<never, AppDeps>[];

/** Recurring jobs: Agenda keeps one document per name, so several workers schedule them once. */
export const RECURRING: JobSet<AppDeps>['recurring'] = [
  { name: storeWebhookBatchesJob.name, every: '10 seconds' },
  { name: processInboundJob.name, every: '10 seconds' },
  { name: applyStatusesJob.name, every: '10 seconds' },
  { name: broadcastSweepJob.name, every: (config) => sweepIntervalMs(config.fanOut.unknownAfterMs) },
  { name: cleanupWebhookEventsJob.name, every: '1 hour' },
  { name: pruneSubscribersJob.name, every: '1 hour' },
  { name: keepWindowsJob.name, every: (config) => config.keeper.intervalMs },
];

/** What `startWorker` takes: every job and the recurring schedule. */
export const WORKER_JOBS: JobSet<AppDeps> = { jobs: JOBS, recurring: RECURRING };
