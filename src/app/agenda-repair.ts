import { Job } from 'agenda';

/**
 * A repair of Agenda (found in 6.2.6, the latest; upstream agenda/agenda#589 and #1413 describe
 * it). A worker locks at most `lockLimit` jobs of a name. When its processor takes a locked job
 * from its local queue and finds the lock expired (the job waited longer than its lock lifetime:
 * the lock's answer came late through a database outage, or the process stalled), it drops the
 * job but keeps counting it as locked. After `lockLimit` such jobs, the worker never locks a job
 * of that name again: a chaos run's three workers all stopped taking fan-out batches after the
 * database restart, and the broadcast stood still. The repair gives the place back when the
 * processor finds a job expired that it is not running (a running one gives its place back when
 * it ends). The job itself is left alone: its lock has expired, so any worker may take it again.
 */
interface ProcessorInternals {
  runningJobs: unknown[];
  lockedJobs: unknown[];
  updateStatus(name: string, key: 'locked', change: number): void;
}

interface JobInternals {
  byJobProcessor: boolean;
  agenda: { jobProcessor?: ProcessorInternals };
  attrs: { name: string };
  isExpired(): Promise<boolean>;
}

const REPAIRED = Symbol.for('optin-broadcast-worker.agenda-repair');

/** Installs the repair once per process; false when Agenda no longer has the code it mends. */
export function repairExpiredQueuedJobs(): boolean {
  const prototype = Job.prototype as unknown as JobInternals & { [REPAIRED]?: true };
  if (typeof prototype.isExpired !== 'function') return false;
  if (prototype[REPAIRED]) return true;
  const isExpired = prototype.isExpired;
  prototype.isExpired = async function (this: JobInternals) {
    const expired = await isExpired.call(this);
    const processor = this.agenda.jobProcessor;
    // Only while the processor's internals look as they did in 6.2.6: a throw here would be an
    // unhandled rejection (Agenda does not await its queue processing).
    const known = processor !== undefined && Array.isArray(processor.runningJobs) && Array.isArray(processor.lockedJobs) && typeof processor.updateStatus === 'function';
    if (expired && this.byJobProcessor && known && !processor.runningJobs.includes(this)) {
      const index = processor.lockedJobs.indexOf(this);
      if (index !== -1) {
        processor.lockedJobs.splice(index, 1);
        processor.updateStatus(this.attrs.name, 'locked', -1);
      }
    }
    return expired;
  };
  prototype[REPAIRED] = true;
  return true;
}
