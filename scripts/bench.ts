import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/domain/errors.js';
import { EXIT, runCommand, UsageError, type FlagValues } from './cli/run-command.js';
import type { BenchOptions, Benchmark, BenchRow } from './bench/benchmark.js';

const HELP = `Usage: npm run bench -- [NAME ...] [--json] [--subscribers N[,N]] [--workers N[,N]] [--seed N] [--kills N] [--cpu-prof DIR]

Runs the benchmarks in scripts/bench/ (every one but chaos and fuzz, or only the named ones)
and prints a table of name, metric and value; with --json one JSON object per run instead, one
a line (progress goes to stderr). Workers, sandbox and database server run as processes of
their own, as in production; their CPU and peak memory come from /proc.

  fan-out             a broadcast to N subscribers through W worker processes, a sandbox process
                      (no rate limit, status webhooks on) and SEND_RATE_MPS=10000, with the raw
                      insert rate of as many delivery documents on the same server as baseline;
                      CPU per message of the workers, the sandbox and the database server.
                      --subscribers / BENCH_SUBSCRIBERS (default 2000), --workers / BENCH_WORKERS
                      (default 1,2), BENCH_MAX_SECONDS (a run stopped there reports its rate),
                      BENCH_WORKER_NODE_OPTIONS (node flags for the workers, after those of
                      npm start, which they override: another heap cap);
                      --cpu-prof DIR: a V8 CPU profile of each worker and of the sandbox (as
                      node's --cpu-prof, written when they stop) in DIR/fan-out-<N>x<W>-<time>/,
                      with run.json naming the pids and the fan-out's time window in the
                      profiles' clock (the profiler's overhead raises cpuMsPerMsg)
  webhook             signed status-webhook POSTs to a worker process: events/s ingested and
                      latency, alone and while a fan-out runs, beside a plain HTTP echo.
                      --subscribers (default 2000: half the statuses before, half during the
                      fan-out), BENCH_WEBHOOK_EVENTS_PER_POST (5), BENCH_CONNECTIONS (8),
                      BENCH_DURATION_S (a cap per phase, at most 60), BENCH_WORKER_NODE_OPTIONS
  sandbox-throughput  the sandbox process alone under autocannon (BENCH_DURATION_S, BENCH_CONNECTIONS)
  chaos               a check more than a measurement, run only when named: a broadcast through
                      W workers killed with SIGKILL at random moments and started again, and one
                      restart of the database server; exits 1 if anyone got the broadcast twice,
                      a delivery did not end or a subscriber has no delivery. --subscribers /
                      BENCH_CHAOS_SUBSCRIBERS (default 10000), --workers (3), --kills (20),
                      --seed (default: random, printed)
  fuzz                seeded hostile webhook requests against a worker process, run only when
                      named: BENCH_FUZZ_REQUESTS (default 10000), BENCH_FUZZ_MAX_SECONDS, --seed

With MONGODB_URI set the benchmarks use that server instead of starting one (chaos then cuts the
connections through a relay instead of restarting the server). A benchmark that fails, or a
chaos or fuzz run that finds a violation, ends the command with exit code 1 after the others ran.
Use npm run -s (or node --import tsx scripts/bench.ts) for stdout without npm's banner.`;

const FLAGS = {
  subscribers: { type: 'string' }, workers: { type: 'string' }, seed: { type: 'string' }, kills: { type: 'string' }, 'cpu-prof': { type: 'string' },
} as const;

function integerList(flag: string, raw: string): number[] {
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (raw.trim() === '' || values.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--${flag}: expected positive integers separated by commas, got ${JSON.stringify(raw)}`);
  return values;
}

function integer(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 2 ** 31 - 1) throw new UsageError(`--${flag}: expected an integer from 0 to ${2 ** 31 - 1}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function benchOptions(values: FlagValues<typeof FLAGS>): BenchOptions {
  const options: BenchOptions = {};
  if (values.subscribers !== undefined) options.subscribers = integerList('subscribers', values.subscribers);
  if (values.workers !== undefined) options.workers = integerList('workers', values.workers);
  if (values.seed !== undefined) options.seed = integer('seed', values.seed);
  if (values.kills !== undefined) options.kills = integer('kills', values.kills);
  if (values['cpu-prof'] !== undefined) {
    if (values['cpu-prof'].trim() === '') throw new UsageError('--cpu-prof: expected a directory');
    options['cpu-prof'] = resolve(values['cpu-prof']);
  }
  return options;
}

/** The benchmarks to run, in name order: the named ones, or every one that runs by default. */
async function select(names: readonly string[]): Promise<Benchmark[]> {
  const dir = fileURLToPath(new URL('./bench/', import.meta.url));
  const available = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'benchmark.ts').map((f) => f.replace(/\.ts$/, '')).sort();
  const unknown = names.filter((name) => !available.includes(name));
  if (unknown.length > 0) throw new UsageError(`unknown benchmark ${unknown.join(', ')} (have: ${available.join(', ')})`);
  const selected: Benchmark[] = [];
  for (const name of available) {
    if (names.length > 0 && !names.includes(name)) continue;
    const { benchmark } = (await import(new URL(`./bench/${name}.ts`, import.meta.url).href)) as { benchmark?: Benchmark };
    if (!benchmark) throw new Error(`scripts/bench/${name}.ts exports no benchmark`);
    if (names.length === 0 && benchmark.runsByDefault === false) continue;
    selected.push(benchmark);
  }
  return selected;
}

function printTable(rows: readonly BenchRow[]): void {
  const header: BenchRow = { name: 'name', metric: 'metric', value: 'value' };
  const widths = [0, 0];
  for (const r of [header, ...rows]) {
    widths[0] = Math.max(widths[0] ?? 0, r.name.length);
    widths[1] = Math.max(widths[1] ?? 0, r.metric.length);
  }
  const line = (r: BenchRow) => `${r.name.padEnd(widths[0] ?? 0)}  ${r.metric.padEnd(widths[1] ?? 0)}  ${String(r.value)}`;
  console.log(line(header));
  console.log(line({ name: '-'.repeat(widths[0] ?? 0), metric: '-'.repeat(widths[1] ?? 0), value: '-----' }));
  for (const r of rows) console.log(line(r));
}

runCommand({ name: 'npm run bench', help: HELP, flags: FLAGS, positionals: true, json: true }, async ({ values, positionals, json }) => {
  const options = benchOptions(values);
  const selected = await select(positionals);
  for (const flag of Object.keys(options) as (keyof BenchOptions)[]) {
    if (!selected.some((b) => b.flags.includes(flag))) throw new UsageError(`--${flag} is not read by ${selected.map((b) => b.name).join(', ')}`);
  }
  const rows: BenchRow[] = [];
  let exitCode: number = EXIT.ok;
  for (const benchmark of selected) {
    process.stderr.write(`running ${benchmark.name} ...\n`);
    try {
      rows.push(...(await benchmark.run({
        options,
        record: (run) => {
          if (json) console.log(JSON.stringify({ benchmark: benchmark.name, ...run }));
        },
        progress: (line) => process.stderr.write(`  ${line}\n`),
        violation: (message) => {
          exitCode = EXIT.unexpected;
          process.stderr.write(`VIOLATION in ${benchmark.name}: ${message}\n`);
        },
      })));
    } catch (err) {
      // A bad BENCH_* variable is the same mistake for every benchmark: stop with 78.
      if (err instanceof ConfigError) throw err;
      const message = (err as Error).message.split('\n')[0] ?? '';
      if (json) console.log(JSON.stringify({ benchmark: benchmark.name, error: { message, exitCode: EXIT.unexpected } }));
      console.error(`error: ${benchmark.name} failed: ${message}`);
      exitCode = EXIT.unexpected;
    }
  }
  if (!json) printTable(rows);
  return exitCode;
});
