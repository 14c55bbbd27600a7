import { setTimeout as sleep } from 'node:timers/promises';
import type { Services } from './deps.js';
import { broadcastReport, type BroadcastReport } from './publish.js';

export interface WatchOptions {
  /** How often the database is asked. */
  intervalMs: number;
  /** See `BroadcastProgress.reportWaitMs`. */
  reportWaitMs: number;
  /** Aborting stops the watch at once (Ctrl-C); nothing is changed either way. */
  signal: AbortSignal;
  /** Called with the first report and then whenever a figure changed. */
  onUpdate(report: BroadcastReport): void;
}

/** Why the watch ended. `paused` and `failed` broadcasts need an operator: watching longer changes nothing. */
export type WatchEnd = 'settled' | 'paused' | 'failed' | 'stopped';

/** The figures of a report that make an update: its clock-free content. */
function figures(report: BroadcastReport): string {
  const { oldestAwaitingSince: _oldest, ...progress } = report.progress;
  return JSON.stringify([report.status, report.statusReason, report.batches, report.deliveries, report.reasons, report.cost, progress]);
}

/**
 * Follows a broadcast until it is settled (see `BroadcastProgress`), paused or failed, or until
 * `signal` aborts. Only reads: watching never changes a broadcast.
 */
export async function watchBroadcast(services: Services, id: string, options: WatchOptions): Promise<{ report: BroadcastReport; end: WatchEnd }> {
  let last: string | undefined;
  for (;;) {
    const report = await broadcastReport(services, id, { reportWaitMs: options.reportWaitMs });
    const now = figures(report);
    if (now !== last) options.onUpdate(report);
    last = now;
    if (report.progress.settled) return { report, end: 'settled' };
    if (report.status === 'paused' || report.status === 'failed') return { report, end: report.status };
    try {
      await sleep(options.intervalMs, undefined, { signal: options.signal });
    } catch {
      return { report, end: 'stopped' };
    }
  }
}
