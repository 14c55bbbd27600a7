import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/store/server/processes.js';
import { runPublish } from './publish-process.js';
import { spawnSandbox, type SandboxProcess } from './sandbox-process.js';
import { EXTERNAL_API_CREDENTIALS } from './test-config.js';
import { WebhookBalancer } from './webhook-balancer.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';

export interface FleetOptions {
  /** The database server the workers and the publish command use. */
  uri: string;
  db: string;
  /** Worker slots, each with a port of its own. */
  workers: number;
  /** Start the workers now (default); false leaves it to `spawn`. */
  startWorkers?: boolean;
  /** Added to every worker's (and the publish command's) environment. */
  env?: Record<string, string>;
  /** Added to the workers' environment only (after `env`). */
  workerEnv?: Record<string, string>;
  /** Added to `npm run sandbox` (default: no rate limits). */
  sandboxArgs?: string[];
  /** Status webhooks from the sandbox to the workers (default on). */
  webhooks?: boolean;
}

/** A message as the sandbox's `GET /_sandbox/messages` lists it (the fields used here). */
export interface AcceptedMessage {
  wamid: string;
  to: string;
  type: string;
  callbackData?: string;
  acceptedAt: string;
}

/**
 * Production in miniature: W worker processes (`npm start`) on one database, one sandbox
 * process standing in for the Cloud API, and a balancer that spreads its webhooks over the
 * workers. Each worker has a slot with a fixed port, so a killed worker is restarted where the
 * balancer expects it. `close()` kills whatever is still running.
 */
export class BroadcastFleet {
  readonly slots: WorkerProcess[] = [];
  readonly #dataDir = mkdtempSync(join(tmpdir(), 'optin-fleet-'));
  #closed = false;

  private constructor(
    readonly env: Record<string, string>,
    private readonly workerEnv: Record<string, string>,
    readonly ports: readonly number[],
    readonly sandbox: SandboxProcess,
    private readonly balancer: WebhookBalancer | undefined,
  ) {}

  static async start(options: FleetOptions): Promise<BroadcastFleet> {
    const ports = await Promise.all(Array.from({ length: options.workers }, () => freePort()));
    const base = { ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: options.uri, MONGODB_DB: options.db, ...options.env };
    let balancer: WebhookBalancer | undefined;
    if (options.webhooks ?? true) {
      balancer = new WebhookBalancer(() => ports.map((port) => `http://127.0.0.1:${port}`));
      await balancer.start();
    }
    let sandbox: SandboxProcess;
    try {
      const webhook = balancer ? ['--webhook', `${balancer.url}/webhooks/whatsapp`] : [];
      sandbox = await spawnSandbox(base, [...webhook, '--mps', '0', '--pair-rate', 'off', ...(options.sandboxArgs ?? [])]);
    } catch (err) {
      await balancer?.stop();
      throw err;
    }
    const fleet = new BroadcastFleet({ ...base, WHATSAPP_API_BASE: sandbox.url }, options.workerEnv ?? {}, ports, sandbox, balancer);
    if (options.startWorkers ?? true) for (let i = 0; i < options.workers; i += 1) fleet.spawn(i);
    return fleet;
  }

  /** Starts the worker of slot `index` (after a kill: again, on the same port), `env` over the fleet's. */
  spawn(index: number, env: Record<string, string> = {}): WorkerProcess {
    if (this.#closed) throw new Error('the fleet is closed');
    const worker = spawnWorker({ ...this.env, ...this.workerEnv, ...env, PORT: String(this.ports[index]) });
    this.slots[index] = worker;
    return worker;
  }

  /** Waits until every worker listens. */
  async listening(timeoutMs = 60_000): Promise<void> {
    await Promise.all(this.slots.map((w) => w.url(timeoutMs)));
  }

  /** SIGKILL to the worker of slot `index`; resolves once it is gone. */
  async kill(index: number): Promise<void> {
    const worker = this.slots[index];
    if (!worker) return;
    if (isRunning(worker)) worker.child.kill('SIGKILL');
    await worker.exited;
  }

  /** The pids of the running workers. */
  workerPids(): number[] {
    return this.slots.filter(isRunning).map((w) => w.child.pid as number);
  }

  /** Publishes an update to topic `fallzahlen` with `npm run publish`; resolves with the broadcast id. */
  async publish(data: Record<string, unknown>): Promise<string> {
    const file = join(this.#dataDir, `data-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(data));
    const result = await runPublish(this.env, ['--topic', 'fallzahlen', '--data', file, '--yes', '--json']);
    if (result.code !== 0) throw new Error(`publish exited with ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return (JSON.parse(result.stdout) as { id: string }).id;
  }

  /** The messages of this broadcast the sandbox accepted (their callback data is the delivery id). */
  async accepted(broadcastId: string): Promise<AcceptedMessage[]> {
    const all = (await this.sandbox.messages()) as AcceptedMessage[];
    return all.filter((m) => m.callbackData?.startsWith(`dl:${broadcastId}:`));
  }

  /** Stops every worker as an operator would (SIGTERM), SIGKILL after `graceMs`. */
  async stopWorkers(graceMs = 20_000): Promise<void> {
    await Promise.all(this.slots.map(async (worker) => {
      if (!isRunning(worker)) return;
      worker.child.kill('SIGTERM');
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
      await worker.exited;
      clearTimeout(timer);
    }));
  }

  /** Kills every worker still running, stops the sandbox and the balancer; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const worker of this.slots) {
      if (isRunning(worker)) worker.child.kill('SIGKILL');
    }
    await Promise.all(this.slots.map((w) => w.exited));
    await this.sandbox.stop();
    await this.balancer?.stop();
    rmSync(this.#dataDir, { recursive: true, force: true });
  }
}

export function isRunning(worker: WorkerProcess): boolean {
  return worker.child.exitCode === null && worker.child.signalCode === null;
}
