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

/**
 * A broadcast to N subscribers outside their window (templates), limits off (SEND_RATE_MPS
 * 10,000, sandbox without mps limit, status webhooks on), with one and with two workers on the
 * same database. Both workers run in this process; peak memory is this process's RSS.
 */
async function run(subscribers: number, workers: number, uri: string): Promise<{ rate: number; seconds: number; peakMiB: number }> {
  const db = `bench_fanout_${subscribers}_${workers}_${systemClock.now().getTime()}`;
  const logger = createLogger({ level: 'error', json: true, pii: false });
  const started: Worker[] = [];
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  try {
    for (let i = 0; i < workers; i += 1) {
      const config = loadConfig({ MONGODB_URI: uri, MONGODB_DB: db, PORT: '0', HOST: '127.0.0.1', SANDBOX_PORT: '0', SANDBOX_MPS: '0', SEND_RATE_MPS: '10000', JOB_POLL_INTERVAL_MS: '250', LOG_LEVEL: 'error' });
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
    const t0 = performance.now();
    await first.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', systemClock.now());
    let lastReport = t0;
    for (;;) {
      const report = await broadcastReport(first.deps, broadcast.id);
      if (report.status === 'done') break;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        const sent = started.reduce((n, w) => n + (w.sandbox?.messages().length ?? 0), 0);
        process.stderr.write(`    ${Math.round((lastReport - t0) / 1000)} s: ${sent} accepted by the sandbox(es)\n`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const seconds = (performance.now() - t0) / 1000;
    return { rate: Math.round(subscribers / seconds), seconds: Math.round(seconds), peakMiB: Math.round(peak / 1024 / 1024) };
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
        for (const workers of [1, 2]) {
          process.stderr.write(`  fan-out to ${n} subscribers with ${workers} worker(s) ...\n`);
          const { rate, seconds, peakMiB } = await run(n, workers, server.uri);
          rows.push({ name: 'fan-out', metric: `${n} subscribers, ${workers} worker(s): messages/s (${seconds} s)`, value: rate });
          rows.push({ name: 'fan-out', metric: `${n} subscribers, ${workers} worker(s): peak RSS of the process, MiB`, value: peakMiB });
        }
      }
      rows.push({ name: 'fan-out', metric: 'database', value: server.description.split(' at ')[0] ?? '' });
    } finally {
      await server.stop();
    }
    return rows;
  },
};
