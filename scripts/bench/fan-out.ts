import { MongoClient } from 'mongodb';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../src/app/logger.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { systemClock } from '../../src/app/system-clock.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import type { Benchmark, BenchRow } from './benchmark.js';

const SUBSCRIBERS = (process.env.BENCH_SUBSCRIBERS ?? '2000').split(',').map(Number);
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
/** A run that takes longer is stopped there and reported with the rate it had reached. */
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 'Infinity');

interface RunResult { rate: number; seconds: number; peakMiB: number; accepted: number; complete: boolean; cpuMsPerMessage: number }

/**
 * A broadcast to N subscribers outside their window (templates), limits off (SEND_RATE_MPS
 * 10,000, sandbox without mps limit, status webhooks on), with one and with two workers on the
 * same database. Both workers run in this process; peak memory is this process's RSS from
 * the moment the broadcast starts (after seeding).
 * BENCH_SUBSCRIBERS (default 2000), BENCH_WORKERS (default 1,2) and BENCH_MAX_SECONDS (a run
 * stopped there reports the rate it reached) choose the runs.
 */
async function run(subscribers: number, workers: number, uri: string): Promise<RunResult> {
  const db = `bench_fanout_${subscribers}_${workers}_${systemClock.now().getTime()}`;
  const logger = createLogger({ level: 'error', json: true, pii: false });
  const started: Worker[] = [];
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  try {
    for (let i = 0; i < workers; i += 1) {
      const config = loadConfig({ MONGODB_URI: uri, MONGODB_DB: db, PORT: '0', HOST: '127.0.0.1', SANDBOX_PORT: '0', SANDBOX_MPS: '0', SEND_RATE_MPS: '10000', LOG_LEVEL: 'error' });
      started.push(await startWorker(config, logger, systemClock));
    }
    const first = started[0] as Worker;
    const now = systemClock.now();
    const docs = Array.from({ length: subscribers }, (_, i) => {
      const phone = `+49151${String(i).padStart(8, '0')}`;
      return { _id: phone, phone, waId: phone.slice(1), status: 'active', subscriptions: { fallzahlen: { state: 'subscribed', changedAt: now, source: 'import' } }, sentSinceReply: 0, unansweredTemplates: 0, createdAt: now };
    });
    for (let i = 0; i < docs.length; i += 5000) await first.deps.db.collection(CONTACTS).insertMany(docs.slice(i, i + 5000) as never[]);
    const prepared = prepareBroadcast(first.deps, { topic: 'fallzahlen', data: { date: '2026-11-20T09:00:00Z', cases: 1, new_cases: 1 } });
    const { broadcast } = await createBroadcast(first.deps, prepared, await planBroadcast(first.deps, prepared, systemClock.now()), systemClock.now());
    // Memory from here on: the seed documents built above are not the worker's.
    global.gc?.();
    peak = process.memoryUsage().rss;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await first.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', systemClock.now());
    const accepted = () => started.reduce((n, w) => n + (w.sandbox?.messages().length ?? 0), 0);
    let lastReport = t0;
    let complete = false;
    // Polls the broadcast's own document: the full report counts every delivery, which at
    // 100,000 deliveries would itself load the database the run is measuring.
    while (performance.now() - t0 < MAX_SECONDS * 1000) {
      if ((await first.deps.broadcasts.get(broadcast.id))?.status === 'done') {
        complete = true;
        break;
      }
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        process.stderr.write(`    ${Math.round((lastReport - t0) / 1000)} s: ${accepted()} accepted by the sandbox(es), RSS ${Math.round(peak / 1024 / 1024)} MiB peak\n`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const seconds = (performance.now() - t0) / 1000;
    const sent = accepted();
    const cpu = process.cpuUsage(cpu0);
    if (complete) {
      const report = await broadcastReport(first.deps, broadcast.id);
      process.stderr.write(`    done: ${JSON.stringify(report.deliveries)}\n`);
    }
    return { rate: Math.round((sent / seconds) * 10) / 10, seconds: Math.round(seconds), peakMiB: Math.round(peak / 1024 / 1024), accepted: sent, complete, cpuMsPerMessage: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, sent)) * 100) / 100 };
  } finally {
    clearInterval(sampler);
    for (const w of started.reverse()) await w.stop();
    // Dropped only once the workers have stopped (FerretDB dies when a database in use is dropped).
    const client = await new MongoClient(uri).connect();
    await client.db(db).dropDatabase().finally(() => client.close());
  }
}

export const benchmark: Benchmark = {
  name: 'fan-out',
  async run() {
    const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', report: (line) => process.stderr.write(`${line}\n`) });
    const rows: BenchRow[] = [];
    try {
      for (const n of SUBSCRIBERS) {
        for (const workers of WORKERS) {
          process.stderr.write(`  fan-out to ${n} subscribers with ${workers} worker(s) ...\n`);
          const { rate, seconds, peakMiB, accepted, complete, cpuMsPerMessage } = await run(n, workers, server.uri);
          const how = complete ? `all sent in ${seconds} s` : `stopped after ${seconds} s with ${accepted} sent`;
          rows.push({ name: 'fan-out', metric: `${n} subscribers, ${workers} worker(s): messages/s (${how})`, value: rate });
          rows.push({ name: 'fan-out', metric: `${n} subscribers, ${workers} worker(s): peak RSS of the process, MiB`, value: peakMiB });
          // The process's CPU per message sent (workers, their sandboxes and webhooks): what the
          // worker itself costs, apart from the time spent waiting for the database.
          rows.push({ name: 'fan-out', metric: `${n} subscribers, ${workers} worker(s): CPU ms per message, whole process`, value: cpuMsPerMessage });
        }
      }
      rows.push({ name: 'fan-out', metric: 'database', value: server.description.split(' at ')[0] ?? '' });
    } finally {
      await server.stop();
    }
    return rows;
  },
};
