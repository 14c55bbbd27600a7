import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { systemClock } from '../../src/app/system-clock.js';
import { WindowKeeper } from '../../src/app/window-keeper.js';
import { ManualClock } from '../../src/domain/clock.js';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { SendPacer } from '../../src/store/send-pacer.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import { cloudApiClientFromConfig } from '../../src/whatsapp/cloud-api-client.js';
import { commandArgs } from '../../test/support/command-line.js';
import { cpuMs } from '../../test/support/process-stats.js';
import { seedSubscribers } from '../../test/support/seed.js';
import { captureLogger, testConfig } from '../../test/support/test-config.js';
import { integersFromEnv, round, type Benchmark, type BenchRow } from './benchmark.js';
import { serverName } from './fan-out.js';

const DAY = 24 * 60 * 60 * 1000;

/** `npm run sandbox` in its own process, limits off; messages outside a window are accepted and failed later by status. */
async function startSandboxProcess(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...commandArgs('sandbox'), '--port', '0', '--mps', '0', '--pair-rate', 'off', '--outside-window', 'failed-status'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WHATSAPP_API_BASE: '', LOG_LEVEL: 'warn' },
  });
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const match = /listening on (\S+)/.exec(line);
    if (match?.[1]) {
      child.stdout?.resume();
      return { child, url: match[1] };
    }
  }
  throw new Error('the sandbox exited before it listened');
}

/**
 * One window-keeper pass over N subscribers of whom some are due a nudge now (their window
 * closes in 4 minutes; the others' windows opened 2 hours ago), against the sandbox in its own
 * process with its limits off: the pass's time, nudges per second and the CPU it took, then a
 * second pass over the same list (everything already decided) for the cost of a pass with
 * nothing to send. The pass runs in this process, as a worker's job would.
 */
export const benchmark: Benchmark = {
  name: 'keeper',
  flags: ['subscribers'],
  async run(context) {
    const subscribers = context.options.subscribers?.[0] ?? integersFromEnv('BENCH_SUBSCRIBERS', '100000')[0] ?? 100_000;
    const due = Math.min(subscribers, integersFromEnv('BENCH_KEEPER_DUE', '5000')[0] ?? 5000);
    const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', report: (line) => context.progress(line) });
    const dbName = `bench_keeper_${Date.now()}`;
    const client = new MongoClient(server.uri);
    const sandbox = await startSandboxProcess();
    try {
      const db = client.db(dbName);
      const config = testConfig({ KEEPER_POLICY: 'always', SEND_RATE_MPS: '10000', MONGODB_URI: server.uri, MONGODB_DB: dbName });
      const clock = new ManualClock(systemClock.now());
      const now = clock.now();
      await ensureIndexes(db, INDEX_DECLARATIONS);
      context.progress(`seeding ${subscribers} subscribers, ${due} of them due a nudge ...`);
      await seedSubscribers(db, { count: subscribers - due, from: 0, lastInboundAt: new Date(now.getTime() - 2 * 60 * 60 * 1000), now });
      await seedSubscribers(db, { count: due, from: subscribers - due, lastInboundAt: new Date(now.getTime() - DAY + 4 * 60 * 1000), now });

      const { logger } = captureLogger('warn');
      const services = buildServices(config, logger, clock, db, loadContentConfig(config));
      const messenger = cloudApiClientFromConfig(config.whatsapp, logger, sandbox.url);
      const keeper = new WindowKeeper({
        ...services,
        messenger,
        pacer: new SendPacer(db, config.sendRateMps),
        logger,
        settings: { ...config.keeper, safetyMarginMs: config.fanOut.safetyMarginMs, timeZone: config.timezone, concurrency: config.fanOut.concurrency, slotsPerReservation: 100 },
      });
      const signal = new AbortController().signal;

      context.progress('keeper pass ...');
      const cpu0 = cpuMs(process.pid) ?? 0;
      const started = performance.now();
      const first = await keeper.pass(signal);
      const seconds = (performance.now() - started) / 1000;
      const cpu = (cpuMs(process.pid) ?? 0) - cpu0;
      const again = performance.now();
      const second = await keeper.pass(signal);
      const idleSeconds = (performance.now() - again) / 1000;
      messenger.close();
      if (first.sent !== due) context.violation(`the pass sent ${first.sent} nudges, expected ${due}`);
      if (second.sent !== 0) context.violation(`a second pass sent ${second.sent} nudges: a window got two`);

      const record = {
        subscribers, due, server: serverName(server), node: process.version,
        candidates: first.candidates, sent: first.sent, failed: first.failed, passSeconds: round(seconds, 2), nudgesPerSec: round(first.sent / seconds),
        cpuMsPerNudge: round(cpu / Math.max(1, first.sent), 3), secondPassSeconds: round(idleSeconds, 2), secondPassSent: second.sent,
      };
      context.record(record);
      const rows: BenchRow[] = [
        { name: 'keeper', metric: `pass over ${subscribers} subscribers, ${due} due: seconds`, value: record.passSeconds },
        { name: 'keeper', metric: 'nudges/s (sandbox limits off)', value: record.nudgesPerSec },
        { name: 'keeper', metric: 'CPU ms per nudge (this process)', value: record.cpuMsPerNudge },
        { name: 'keeper', metric: 'second pass (all decided): seconds', value: record.secondPassSeconds },
      ];
      return rows;
    } finally {
      sandbox.child.kill('SIGTERM');
      if (sandbox.child.exitCode === null) await once(sandbox.child, 'exit');
      if (server.source === 'MONGODB_URI') await client.db(dbName).dropDatabase().catch(() => undefined);
      await client.close();
      await server.stop();
    }
  },
};
