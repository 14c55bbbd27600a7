import { randomInt } from 'node:crypto';
import { ChaosRun } from '../../test/support/chaos-run.js';
import { integersFromEnv, type Benchmark, type BenchRow } from './benchmark.js';

/**
 * A randomized crash run (test/support/chaos-run.ts): a broadcast to 10,000 subscribers
 * through 3 worker processes, 20 SIGKILLs of random workers at random moments (each started
 * again), one restart of the database server in the middle; then: nobody messaged twice, every
 * delivery ended, every subscriber has exactly one delivery. A violation makes the command exit 1.
 * --subscribers / BENCH_CHAOS_SUBSCRIBERS, --workers, --kills, --seed (printed, to run it again).
 */
export const benchmark: Benchmark = {
  name: 'chaos',
  flags: ['subscribers', 'workers', 'kills', 'seed'],
  runsByDefault: false,
  async run(context) {
    const { options } = context;
    const subscribers = options.subscribers?.[0] ?? integersFromEnv('BENCH_CHAOS_SUBSCRIBERS', '10000')[0] ?? 10_000;
    const workers = options.workers?.[0] ?? 3;
    const kills = options.kills ?? 20;
    const seed = options.seed ?? randomInt(0, 2 ** 31 - 1);
    context.progress(`seed ${seed} (run again with --seed ${seed})`);
    const run = new ChaosRun({ subscribers, workers, kills, seed, uri: process.env.MONGODB_URI, finishTimeoutMs: 30 * 60_000, report: (line) => context.progress(line) });
    try {
      const result = await run.run();
      const { events, ...summary } = result;
      context.record({ ...summary, ok: result.violations.length === 0, events: events.map((e) => ({ kind: e.kind, at: e.happenedAt ?? null, time: e.time ?? null, ...(e.worker === undefined ? {} : { worker: e.worker }), ...(e.downMs === undefined ? {} : { downMs: e.downMs, until: e.until ?? null }) })) });
      for (const violation of result.violations) context.violation(violation);
      const rows: BenchRow[] = [
        { name: 'chaos', metric: 'seed', value: seed },
        { name: 'chaos', metric: `${subscribers} subscribers, ${workers} workers: SIGKILLs / database restarts`, value: `${result.kills} / ${result.databaseRestarts}` },
        { name: 'chaos', metric: 'seconds from publication to every delivery ended', value: result.finished ? result.seconds : `not done after ${result.seconds}` },
        { name: 'chaos', metric: 'messages accepted by the sandbox', value: result.messages },
        { name: 'chaos', metric: 'deliveries by state', value: JSON.stringify(result.deliveries) },
        { name: 'chaos', metric: 'workers that exited by themselves', value: result.unexpectedExits.length },
      ];
      for (const [check, value] of Object.entries(result.checks)) rows.push({ name: 'chaos', metric: `check: ${check}`, value });
      rows.push({ name: 'chaos', metric: 'result', value: result.violations.length === 0 ? 'ok' : `VIOLATED: ${result.violations.join('; ')}` });
      return rows;
    } finally {
      await run.close();
    }
  },
};
