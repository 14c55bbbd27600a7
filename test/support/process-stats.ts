import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * CPU time and memory of other processes, read from Linux's /proc (no dependency): what the
 * benchmarks report for worker, sandbox and database server processes. Every reader answers
 * undefined where /proc has no answer (another OS, a process gone).
 */

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on mainstream Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User plus system CPU time the process has used so far, in ms. */
export function cpuMs(pid: number): number | undefined {
  const fields = statFields(pid);
  // stat(5): utime and stime are fields 14 and 15; the slice starts at field 3 (state).
  const user = Number(fields?.[11]);
  const system = Number(fields?.[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) return undefined;
  return ((user + system) * 1000) / clockTicks();
}

/** The parent's pid, from /proc/<pid>/stat. */
function parentPid(pid: number): number | undefined {
  const parent = Number(statFields(pid)?.[1]);
  return Number.isFinite(parent) ? parent : undefined;
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`) ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Peak resident set size (VmHWM), in MiB rounded to one decimal. */
export function peakRssMb(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmHWM');
  return kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10;
}

/**
 * Starts the peak (VmHWM) afresh from the current RSS, so that a peak measured later belongs
 * to what happened after this call (Linux 4.0+, own processes only). False when refused.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * The pid of a child of this process whose command line has `--port PORT`: the database
 * server that startDatabaseServer started for a throwaway run (it does not expose its pid).
 */
export function childListeningOn(port: number): number | undefined {
  const wanted = `--port\0${port}\0`;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (read(`/proc/${pid}/cmdline`)?.includes(wanted) && parentPid(pid) === process.pid) return pid;
  }
  return undefined;
}
