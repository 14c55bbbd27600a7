import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { pseudonym } from '../../src/store/pseudonyms.js';
import { startDatabaseServer, type DatabaseServer } from '../../src/store/server/local-server.js';
import { BroadcastFleet } from '../../test/support/broadcast-fleet.js';
import { childListeningOn, cpuMs, peakRssMb, resetPeakRss } from '../../test/support/process-stats.js';
import { seedSubscribers } from '../../test/support/seed.js';
import { integersFromEnv, round, secondsFromEnv, type BenchContext, type Benchmark, type BenchRow } from './benchmark.js';

export interface FanOutRun {
  subscribers: number;
  workers: number;
  server: string;
  node: string;
  /** From the broadcast's publication to its status `done`, or to BENCH_MAX_SECONDS. */
  seconds: number;
  complete: boolean;
  messages: number;
  msgPerSec: number;
  /** User + system CPU of the worker processes only, per message sent. */
  cpuMsPerMsg: number;
  /** The sandbox process's CPU per message (it also sends the status webhooks). */
  sandboxCpuMsPerMsg: number;
  /** The database server's CPU in the same time, when the bench started it (null on MONGODB_URI). */
  serverCpuMsPerMsg: number | null;
  /** Peaks from the moment the broadcast is published (where /proc allows resetting them). */
  peakRssMb: { workers: (number | null)[]; server: number | null; sandbox: number | null };
  rawInsertPerSec: number;
  shareOfRawInsert: number;
  /** With --cpu-prof: where this run's profiles and run.json are. */
  cpuProfDir?: string;
}

/** Profiles a child process from its start to its exit (node refuses --cpu-prof in NODE_OPTIONS). */
const CPU_PROFILE_PRELOAD = new URL('./cpu-profile.mjs', import.meta.url).href;

/** Monotonic µs: the clock of V8's CPU profiles (`startTime`, `timeDeltas`). */
function profileClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The server's name and version, without its address: `mongo-java-server 1.47.0 (memory backend, ...)`. */
export function serverName(server: DatabaseServer): string {
  return server.description.replace(/ at mongodb(\+srv)?:\/\/.*$/, '');
}

/** The pid of the database server when this process started it (not for MONGODB_URI). */
export function serverPid(server: DatabaseServer): number | undefined {
  return server.source === 'MONGODB_URI' ? undefined : childListeningOn(Number(new URL(server.uri).port));
}

/**
 * Inserts `count` documents shaped like a sent delivery record (see delivery-repository.ts)
 * into a scratch collection with insertMany in chunks of 1,000; returns documents per second,
 * the median of three rounds (one round of a few thousand documents is over in well under a
 * second, too short to be steady). The baseline of what the server itself can write, measured
 * on the same server in the same run.
 */
export async function rawInsertRate(db: Db, count: number): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < 3; round += 1) {
    const scratch = db.collection(`bench_raw_insert_${Date.now()}_${round}`);
    const now = new Date(Date.now());
    const broadcastId = `b${Date.now().toString(36)}raw${round}`;
    const key = randomBytes(32);
    const started = performance.now();
    for (let from = 0; from < count; from += 1000) {
      const docs = [];
      for (let i = from; i < Math.min(count, from + 1000); i += 1) {
        const contactKey = `+49151${String(i).padStart(8, '0')}`;
        docs.push({
          _id: `dl:${broadcastId}:${pseudonym(key, contactKey)}` as never, broadcastId, contactKey, state: 'sending', kind: 'template', attempts: 1,
          claimedAt: now, estimatedCost: 0.0456, rank: 1, wamid: `wamid.HBgN${contactKey.slice(1)}FQIAERgSQkVOQ0hSQVdJTlNFUlQ${i}`,
          pricing: { type: 'regular', category: 'utility', billable: true }, updatedAt: now,
        });
      }
      await scratch.insertMany(docs, { ordered: false });
    }
    rates.push(count / ((performance.now() - started) / 1000));
    await scratch.drop();
  }
  return rates.sort((a, b) => a - b)[1] as number;
}

/**
 * One broadcast to `subscribers` contacts outside their window (templates) through `workers`
 * worker processes, on a database server of its own (a fresh throwaway one per run, so one
 * run's memory does not carry into the next). With `cpuProfRoot`, the workers, the sandbox and
 * the publish command write V8 CPU profiles into a directory of this run's own, beside a
 * run.json naming the pids and the fan-out's window in the profiles' clock.
 */
export async function fanOutRun(subscribers: number, workers: number, maxSeconds: number, context: BenchContext, cpuProfRoot?: string): Promise<FanOutRun> {
  const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', javaMaxHeap: process.env.LOCAL_DB_MAX_HEAP, report: (line) => context.progress(line) });
  const dbName = `bench_fanout_${subscribers}_${workers}_${Date.now()}`;
  const client = new MongoClient(server.uri);
  let fleet: BroadcastFleet | undefined;
  const cpuProfDir = cpuProfRoot === undefined ? undefined : join(cpuProfRoot, `fan-out-${subscribers}x${workers}-${new Date(Date.now()).toISOString().replace(/[:.]/g, '-')}`);
  try {
    const db = client.db(dbName);
    await seedSubscribers(db, { count: subscribers });
    if (cpuProfDir !== undefined) mkdirSync(cpuProfDir, { recursive: true });
    const profiling: Record<string, string> = cpuProfDir === undefined ? {} : { NODE_OPTIONS: `--import=${CPU_PROFILE_PRELOAD}`, BENCH_CPU_PROF_DIR: cpuProfDir };
    // BENCH_WORKER_NODE_OPTIONS: node flags for the workers alone, after npm start's heap flags (so
    // they win), e.g. another heap cap (--max-old-space-size=N).
    const workerNodeOptions = [profiling.NODE_OPTIONS, process.env.BENCH_WORKER_NODE_OPTIONS].filter((o) => o).join(' ');
    fleet = await BroadcastFleet.start({
      uri: server.uri, db: dbName, workers, env: { SEND_RATE_MPS: '10000', ...profiling }, workerEnv: workerNodeOptions ? { NODE_OPTIONS: workerNodeOptions } : {},
    });
    await fleet.listening();
    const id = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: subscribers, new_cases: workers });
    const pids = fleet.workerPids();
    const dbPid = serverPid(server);
    const sandboxPid = fleet.sandbox.child.pid as number;
    for (const pid of [...pids, sandboxPid, ...(dbPid ? [dbPid] : [])]) resetPeakRss(pid);
    const cpuBefore = pids.map((pid) => cpuMs(pid) ?? 0);
    const sandboxCpuBefore = cpuMs(sandboxPid) ?? 0;
    const serverCpuBefore = dbPid ? cpuMs(dbPid) : undefined;
    const windowStartUs = profileClockUs();
    const t0 = performance.now();
    const broadcasts = new BroadcastRepository(db);
    let complete = false;
    let lastReport = t0;
    while (performance.now() - t0 < maxSeconds * 1000) {
      const broadcast = await broadcasts.get(id);
      if (broadcast?.status === 'done') {
        complete = true;
        break;
      }
      if (performance.now() - lastReport >= 10_000) {
        lastReport = performance.now();
        context.progress(`${Math.round((lastReport - t0) / 1000)} s: ${broadcast?.batchesDone ?? 0} of ${broadcast?.batches ?? '?'} batches done`);
      }
      await sleep(250);
    }
    const seconds = (performance.now() - t0) / 1000;
    const windowEndUs = profileClockUs();
    const workerCpu = pids.reduce((sum, pid, i) => sum + ((cpuMs(pid) ?? 0) - (cpuBefore[i] ?? 0)), 0);
    const sandboxCpu = (cpuMs(sandboxPid) ?? 0) - sandboxCpuBefore;
    const serverCpuAfter = dbPid ? cpuMs(dbPid) : undefined;
    const serverCpu = serverCpuBefore === undefined || serverCpuAfter === undefined ? undefined : serverCpuAfter - serverCpuBefore;
    const peaks = { workers: pids.map((pid) => peakRssMb(pid) ?? null), server: dbPid ? (peakRssMb(dbPid) ?? null) : null, sandbox: peakRssMb(sandboxPid) ?? null };
    const messages = (await fleet.accepted(id)).length;
    if (cpuProfDir !== undefined) {
      const run = { subscribers, workers, messages, workerPids: pids, sandboxPid, window: { startUs: windowStartUs, endUs: windowEndUs } };
      writeFileSync(join(cpuProfDir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
    }
    await fleet.stopWorkers();
    const rawInsertPerSec = await rawInsertRate(db, subscribers);
    const msgPerSec = messages / seconds;
    return {
      subscribers, workers, server: serverName(server), node: process.version,
      seconds: round(seconds), complete, messages, msgPerSec: round(msgPerSec),
      cpuMsPerMsg: round(workerCpu / Math.max(1, messages), 2), sandboxCpuMsPerMsg: round(sandboxCpu / Math.max(1, messages), 2),
      serverCpuMsPerMsg: serverCpu === undefined ? null : round(serverCpu / Math.max(1, messages), 2),
      peakRssMb: peaks, rawInsertPerSec: Math.round(rawInsertPerSec), shareOfRawInsert: round(msgPerSec / rawInsertPerSec, 4),
      ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
    };
  } finally {
    await fleet?.close();
    // Dropped once nothing uses it (only matters on a MONGODB_URI server; a throwaway one goes as a whole).
    if (server.source === 'MONGODB_URI') await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.close();
    await server.stop();
  }
}

function rowsOf(r: FanOutRun): BenchRow[] {
  const label = `${r.subscribers} subscribers, ${r.workers} worker(s)`;
  const how = r.complete ? `all sent in ${r.seconds} s` : `stopped after ${r.seconds} s with ${r.messages} sent`;
  return [
    { name: 'fan-out', metric: `${label}: messages/s (${how})`, value: r.msgPerSec },
    { name: 'fan-out', metric: `${label}: share of the raw insert rate (${r.rawInsertPerSec}/s)`, value: r.shareOfRawInsert },
    { name: 'fan-out', metric: `${label}: CPU ms per message, worker processes`, value: r.cpuMsPerMsg },
    { name: 'fan-out', metric: `${label}: peak RSS MiB, worker processes`, value: r.peakRssMb.workers.join(' / ') },
    { name: 'fan-out', metric: `${label}: peak RSS MiB, database server`, value: r.peakRssMb.server ?? 'n/a' },
  ];
}

/**
 * A broadcast to N subscribers outside their window (templates) with limits off
 * (SEND_RATE_MPS 10,000, sandbox without mps limit, status webhooks on) through 1 and 2
 * worker processes on one database. --subscribers / BENCH_SUBSCRIBERS (default 2000),
 * --workers / BENCH_WORKERS (default 1,2), BENCH_MAX_SECONDS (a stopped run reports its rate),
 * --cpu-prof DIR (CPU profiles of the workers and the sandbox).
 */
export const benchmark: Benchmark = {
  name: 'fan-out',
  flags: ['subscribers', 'workers', 'cpu-prof'],
  async run(context) {
    const sizes = context.options.subscribers ?? integersFromEnv('BENCH_SUBSCRIBERS', '2000');
    const workerCounts = context.options.workers ?? integersFromEnv('BENCH_WORKERS', '1,2');
    const maxSeconds = secondsFromEnv('BENCH_MAX_SECONDS');
    const rows: BenchRow[] = [];
    let server = '';
    for (const n of sizes) {
      for (const workers of workerCounts) {
        context.progress(`fan-out to ${n} subscribers with ${workers} worker process(es) ...`);
        const result = await fanOutRun(n, workers, maxSeconds, context, context.options['cpu-prof']);
        context.record({ ...result });
        rows.push(...rowsOf(result));
        server = result.server;
      }
    }
    rows.push({ name: 'fan-out', metric: 'database', value: server });
    return rows;
  },
};
