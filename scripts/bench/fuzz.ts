import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { MongoClient } from 'mongodb';
import { SANDBOX_CREDENTIALS } from '../../config/index.js';
import { systemClock } from '../../src/app/system-clock.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import { WebhookFuzzer, type FuzzRequest } from '../../test/support/webhook-fuzz.js';
import { WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { checkAnswer, checkFuzzState, percentile, runFuzz, sendFuzzRequest, type FuzzResult } from '../../test/support/webhook-fuzz-run.js';
import { waitFor } from '../../test/support/wait-for.js';
import { spawnWorker } from '../../test/support/worker-process.js';
import type { Benchmark, BenchRow } from './benchmark.js';

/** The parts of the bench runner's context this benchmark uses (all optional, so it runs under any runner). */
interface FuzzContext {
  options?: { seed?: number };
  record?(run: Record<string, unknown>): void;
  progress?(line: string): void;
  violation?(message: string): void;
}

const DEFAULTS = { requests: 10_000, connections: 8, maxSeconds: 300 };
/** The most requests or seconds a run may be given: the run stays bounded whatever is asked. */
const CAPS = { requests: 100_000, connections: 32, maxSeconds: 1800 };
const SKEW_MS = 300_000;

function fromEnv(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`${name}: expected an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

/** CPU ms (utime + stime at 100 ticks a second, Linux's USER_HZ) and peak RSS in MiB of a process, from /proc. */
function processFigures(pid: number | undefined): { cpuMs?: number; peakRssMiB?: number } {
  if (pid === undefined) return {};
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, ...(hwm ? { peakRssMiB: Math.round(Number(hwm) / 1024) } : {}) };
  } catch {
    return {};
  }
}

/** A plain HTTP server that reads the body and answers `{}`: the baseline for the latencies. */
async function echoServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

function latencies(results: readonly FuzzResult[]): { p50: number; p99: number } {
  const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
  return { p50: Math.round(percentile(sorted, 50) * 10) / 10, p99: Math.round(percentile(sorted, 99) * 10) / 10 };
}

const fuzz = {
  name: 'fuzz',
  flags: ['seed'] as const,
  /** A check more than a measurement: run when named (`npm run bench -- fuzz`). */
  runsByDefault: false,
  async run(context: FuzzContext = {}): Promise<BenchRow[]> {
    const requests = fromEnv('BENCH_FUZZ_REQUESTS', DEFAULTS.requests, CAPS.requests);
    const connections = fromEnv('BENCH_CONNECTIONS', DEFAULTS.connections, CAPS.connections);
    const maxSeconds = fromEnv('BENCH_FUZZ_MAX_SECONDS', DEFAULTS.maxSeconds, CAPS.maxSeconds);
    const seed = context.options?.seed ?? randomInt(0, 2 ** 31 - 1);
    const progress = context.progress ?? ((line: string) => process.stderr.write(`  ${line}\n`));
    progress(`seed ${seed} (replay with --seed ${seed}), ${requests} requests, ${connections} at a time, at most ${maxSeconds} s`);

    const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', report: progress });
    const dbName = `bench_fuzz_${seed}`;
    const worker = spawnWorker({
      MONGODB_URI: server.uri, MONGODB_DB: dbName, SANDBOX_MPS: '0', SANDBOX_OUTSIDE_WINDOW: 'failed-status', LOG_LEVEL: 'info',
      WEBHOOK_MAX_CLOCK_SKEW_MS: String(SKEW_MS),
    });
    const client = new MongoClient(server.uri);
    const echo = await echoServer();
    try {
      const url = await worker.url();
      const sandboxUrl = /WhatsApp sandbox listening on (http:\/\/[^\s"\\]+)/.exec(worker.lines.join('\n'))?.[1];
      if (!sandboxUrl) throw new Error('the worker did not say where its sandbox listens');
      const cpuBefore = processFigures(worker.child.pid).cpuMs ?? 0;
      const fuzzer = new WebhookFuzzer({
        seed, appSecret: SANDBOX_CREDENTIALS.appSecret, verifyToken: SANDBOX_CREDENTIALS.verifyToken,
        now: systemClock.now(), bodyLimit: 4 * 1024 * 1024, maxValueChars: 256 * 1024,
      });
      const started = performance.now();
      const runs = await runFuzz(url, fuzzer, requests, connections, Date.now() + maxSeconds * 1000);
      const seconds = (performance.now() - started) / 1000;
      const worked = processFigures(worker.child.pid);
      const sent: FuzzRequest[] = runs.map((r) => r.request);
      progress(`${runs.length} requests in ${seconds.toFixed(1)} s; waiting for the replies to what was accepted`);

      const db = client.db(dbName);
      await waitFor('the worker to store the events of every answered batch', async () => (await db.collection(WEBHOOK_BATCHES).countDocuments()) === 0, 120_000, 250);
      await waitFor('the worker to handle every accepted message', async () => (await db.collection(INBOUND).countDocuments({ state: { $ne: 'done' } })) === 0, 120_000, 250);
      const sandboxMessages = ((await (await fetch(`${sandboxUrl}/_sandbox/messages`)).json()) as { messages: { to: string }[] }).messages;
      const violations = await checkFuzzState(db, sandboxMessages, sent, new Date(Date.now() + SKEW_MS));
      const wrongAnswers = runs.map(({ request, result }) => checkAnswer(request, result)).filter((p) => p !== undefined);

      // Baseline: the same client sending the first requests to a plain echo server.
      const baseline: FuzzResult[] = [];
      for (const { request } of runs.slice(0, 2000)) baseline.push(await sendFuzzRequest(echo.url, request));

      const byStatus: Record<string, number> = {};
      for (const { request, result } of runs) {
        const key = result.status !== 0 ? `status ${result.status}` : request.status === 413 ? 'reset while sending a body over the limit' : 'no answer';
        byStatus[key] = (byStatus[key] ?? 0) + 1;
      }
      const byKind: Record<string, number> = {};
      for (const { request } of runs) byKind[request.kind] = (byKind[request.kind] ?? 0) + 1;
      // No answer at all counts as a failure, except for a body over the limit (see checkAnswer).
      const worker5xx = runs.filter(({ request, result }) => result.status >= 500 || (result.status === 0 && request.status !== 413)).length;
      const all = latencies(runs.map((r) => r.result));
      const base = latencies(baseline);
      const figures = {
        seed, requests: runs.length, connections, seconds: Math.round(seconds * 10) / 10, requestsPerSec: Math.round(runs.length / seconds),
        byStatus, byKind, p50Ms: all.p50, p99Ms: all.p99, echoP50Ms: base.p50, echoP99Ms: base.p99,
        wrongAnswers: wrongAnswers.length, stateChangesFound: violations.length, serverErrors: worker5xx,
        workerCpuMsPerRequest: worked.cpuMs === undefined ? undefined : Math.round(((worked.cpuMs - cpuBefore) / runs.length) * 100) / 100,
        workerPeakRssMiB: worked.peakRssMiB, server: server.description,
      };
      context.record?.(figures);
      for (const problem of [...wrongAnswers.slice(0, 5), ...violations]) (context.violation ?? ((m: string) => process.stderr.write(`VIOLATION: ${m}\n`)))(`${problem} (seed ${seed})`);
      if (worker5xx > 0) context.violation?.(`${worker5xx} requests answered 5xx or not at all (seed ${seed})`);

      const rows: BenchRow[] = [
        { name: 'fuzz', metric: 'seed', value: seed },
        { name: 'fuzz', metric: 'requests', value: runs.length },
        ...Object.entries(byStatus).sort().map(([status, n]) => ({ name: 'fuzz', metric: status, value: n })),
        { name: 'fuzz', metric: 'latency p50 ms (echo)', value: `${all.p50} (${base.p50})` },
        { name: 'fuzz', metric: 'latency p99 ms (echo)', value: `${all.p99} (${base.p99})` },
        { name: 'fuzz', metric: 'requests/s', value: figures.requestsPerSec },
        { name: 'fuzz', metric: 'wrong answers', value: wrongAnswers.length },
        { name: 'fuzz', metric: 'state changes found', value: violations.length },
      ];
      if (figures.workerCpuMsPerRequest !== undefined) rows.push({ name: 'fuzz', metric: 'worker CPU ms/request', value: figures.workerCpuMsPerRequest });
      if (figures.workerPeakRssMiB !== undefined) rows.push({ name: 'fuzz', metric: 'worker peak RSS MiB', value: figures.workerPeakRssMiB });
      return rows;
    } finally {
      echo.server.close();
      worker.child.kill('SIGTERM');
      await worker.exited;
      if (process.env.MONGODB_URI) await client.db(dbName).dropDatabase().catch(() => undefined); // a server of the user's: leave nothing behind
      await client.close();
      await server.stop();
    }
  },
};

export const benchmark: Benchmark = fuzz;
