import { PermanentError } from '../domain/errors.js';
import type { Broadcast } from '../store/broadcast-repository.js';
import type { Services } from './deps.js';
import type { BatchQueue } from './fan-out.js';

/** The reason recorded on a delivery queued again by `--resend-unknown`. */
export const RESENT_UNKNOWN_REASON = 'ended unknown; resent by an operator (--resend-unknown)';

export interface UnknownDeliveries {
  broadcast: Broadcast;
  /** Contacts whose delivery ended `unknown` and was never resent. */
  contactKeys: string[];
}

/** The deliveries of a broadcast that `resendUnknown` would resend. Changes nothing. */
export async function findUnknown(services: Services, id: string): Promise<UnknownDeliveries> {
  const broadcast = await services.broadcasts.get(id);
  if (!broadcast) throw new PermanentError(`no broadcast with id ${id}`, { code: 'invalid-input' });
  const unknown = await services.deliveries.unresolvedUnknown(id);
  if (unknown.length > 0 && broadcast.status === 'failed') {
    throw new PermanentError(`broadcast ${id} failed (${broadcast.statusReason ?? 'no reason recorded'}): its ${unknown.length} unknown deliveries would fail the same way`, { code: 'invalid-input' });
  }
  return { broadcast, contactKeys: unknown.map((u) => u.contactKey).sort() };
}

export interface ResendResult {
  /** Deliveries this call queued again (another operator's run may have taken the rest). */
  resent: number;
  /** Batches reopened for them. */
  batches: number;
  /** The broadcast's status afterwards: `running`, or `paused` (they go out after --resume). */
  status: string;
}

/**
 * Queues the `unknown` deliveries of `contactKeys` once more: each is moved back to `retrying`
 * by a guarded update that marks it (so no run, now or later, moves it twice), its batch is
 * reopened, a finished broadcast runs again, and the batch jobs are scheduled. A worker then
 * sends each through the normal path, claiming a new attempt (`<delivery id>#n`).
 */
export async function resendUnknown(services: Services, queue: BatchQueue, found: UnknownDeliveries, now: Date): Promise<ResendResult> {
  const { broadcasts, deliveries } = services;
  const id = found.broadcast.id;
  const moved = await deliveries.requeueUnknown(id, found.contactKeys, RESENT_UNKNOWN_REASON, now);
  // Every resend still waiting, not only this call's: a run that stopped half-way (or one
  // running beside this one) may have moved deliveries whose batches are not open yet.
  const waiting = await deliveries.pendingResends(id);
  const batchIds = new Set<string>();
  for (const contactKey of waiting) {
    const batch = await broadcasts.batchFor(id, contactKey);
    if (batch) batchIds.add(batch.id);
  }
  // Open deliveries and open batches first: the sweep then cannot mark the broadcast done again
  // between its move to running and the batch jobs.
  for (const batchId of batchIds) await broadcasts.reopenBatch(batchId, now);
  if (waiting.length > 0) await broadcasts.setStatus(id, ['done'], 'running', undefined, now);
  const status = (await broadcasts.get(id))?.status ?? found.broadcast.status;
  if (status === 'running') for (const batchId of batchIds) await queue.scheduleBatch(batchId, now);
  return { resent: moved.length, batches: batchIds.size, status };
}
