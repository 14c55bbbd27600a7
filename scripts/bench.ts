import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Benchmark, BenchRow } from './bench/benchmark.js';

const HELP = `Usage: npm run bench [-- NAME ...]

Runs every benchmark in scripts/bench/ (or only the named ones) and prints a table of
name, metric and value. BENCH_DURATION_S and BENCH_CONNECTIONS tune the load benchmarks;
BENCH_SUBSCRIBERS (comma-separated, default 2000) the fan-out sizes. With MONGODB_URI set the
benchmarks use that server instead of the local one (FerretDB's SQLite backend bounds them).`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}

const dir = fileURLToPath(new URL('./bench/', import.meta.url));
const modules = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'benchmark.ts' && f !== 'worker-process.ts').sort();
const unknown = args.filter((a) => !modules.includes(`${a}.ts`));
if (unknown.length > 0) {
  console.error(`error: unknown benchmark ${unknown.join(', ')} (have: ${modules.map((m) => m.replace(/\.ts$/, '')).join(', ')})`);
  process.exit(2);
}

const rows: BenchRow[] = [];
let failed = false;
for (const file of modules) {
  if (args.length > 0 && !args.includes(file.replace(/\.ts$/, ''))) continue;
  const { benchmark } = (await import(new URL(`./bench/${file}`, import.meta.url).href)) as { benchmark?: Benchmark };
  if (!benchmark) {
    console.error(`error: scripts/bench/${file} exports no benchmark`);
    failed = true;
    continue;
  }
  process.stderr.write(`running ${benchmark.name} ...\n`);
  try {
    rows.push(...(await benchmark.run()));
  } catch (err) {
    console.error(`error: ${benchmark.name} failed: ${(err as Error).message}`);
    failed = true;
  }
}

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
process.exitCode = failed ? 1 : 0;
