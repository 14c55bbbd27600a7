import { startWorker, type Worker } from '../../src/app/worker.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { captureLogger, testConfig } from './test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from './test-server.js';
import { WORKER_JOBS } from '../../jobs/index.js';

/** 2025-03-10T12:00:00Z: the time of the Meta-format fixtures in meta-webhooks.ts. */
export const FIXTURE_TIME = new Date(1741608000 * 1000);

export interface WorkerHarness {
  readonly worker: Worker;
  readonly sandbox: Sandbox;
  readonly clock: ManualClock;
  readonly logLines: string[];
  /** POSTs a webhook body to the worker, signed with the app secret unless told otherwise. */
  postWebhook(body: unknown, options?: { secret?: string | null; raw?: string | Buffer; headers?: Record<string, string> }): Promise<{ status: number; body: unknown }>;
}

/**
 * Starts a worker (with its in-process sandbox, on a manual clock) before the tests of the
 * calling describe block, on a database of its own, and stops it and drops the database after.
 */
export function useWorker(fileUrl: string, overrides: Record<string, string> = {}, start = new Date(FIXTURE_TIME.getTime() + 60_000)): WorkerHarness {
  let worker: Worker | undefined;
  const clock = new ManualClock(start);
  const { logger, lines } = captureLogger('info');
  const dbName = testDatabaseName(new URL(fileUrl).pathname);
  const config = () => testConfig({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName, SANDBOX_MPS: '0', ...overrides });
  before(async function () {
    this.timeout(60_000);
    worker = await startWorker(config(), logger, clock, WORKER_JOBS);
  });
  after(async function () {
    this.timeout(60_000);
    await worker?.stop();
    await dropTestDatabase(dbName);
  });
  const harness: WorkerHarness = {
    get worker() {
      if (!worker) throw new Error('worker not started');
      return worker;
    },
    get sandbox() {
      const sandbox = harness.worker.sandbox;
      if (!sandbox) throw new Error('the worker runs without a sandbox');
      // An inbound message resolves once the worker stored what its webhook carried (the worker
      // answers the POST after storing the batch as received, and stores the events right after).
      return new Proxy(sandbox, {
        get(target, property, receiver) {
          if (property !== 'inbound') return Reflect.get(target, property, receiver) as unknown;
          return async (...args: Parameters<Sandbox['inbound']>) => {
            const result = await target.inbound(...args);
            await harness.worker.deps.webhookBatches.idle();
            return result;
          };
        },
      });
    },
    clock,
    logLines: lines,
    async postWebhook(body, options = {}) {
      const raw = options.raw ?? JSON.stringify(body);
      const secret = options.secret === undefined ? harness.worker.deps.config.whatsapp.appSecret : options.secret;
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-hub-signature-256': signBody(raw, secret) }), ...options.headers };
      const response = await fetch(`${harness.worker.url}/webhooks/whatsapp`, { method: 'POST', headers, body: raw });
      const text = await response.text();
      // The answer comes once the batch is stored as received; its events are stored right after.
      await harness.worker.deps.webhookBatches.idle();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    },
  };
  return harness;
}
