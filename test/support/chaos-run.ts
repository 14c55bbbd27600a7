import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { DeliveryRepository } from '../../src/store/delivery-repository.js';
import { startDatabaseServer, type DatabaseServer } from '../../src/store/server/local-server.js';
import { SeededRandom } from '../../src/whatsapp/sandbox/seeded-random.js';
import { BroadcastFleet, type FleetOptions } from './broadcast-fleet.js';
import { checkExactlyOnce, type ExactlyOnceReport } from './exactly-once-checks.js';
import { seedSubscribers } from './seed.js';
import { TcpProxy } from './tcp-proxy.js';
import { WaitAborted, waitFor } from './wait-for.js';
import type { WorkerProcess } from './worker-process.js';

export interface ChaosOptions {
  subscribers: number;
  workers: number;
  kills: number;
  seed: number;
  /** Restart the database server once mid-way (default true; false for runs that look at kills alone). */
  databaseRestart?: boolean;
  /** MONGODB_URI: used as it is, its connections cut for a while through a relay instead of a server restart. */
  uri?: string | undefined;
  /** How long the broadcast may take to end after the last planned event (generous: a limit, not a pace). */
  finishTimeoutMs: number;
  report(line: string): void;
}

/** A planned disruption, at the moment the sandbox has accepted `at` messages of the broadcast. */
export interface ChaosEvent {
  kind: 'kill' | 'database-restart';
  at: number;
  worker?: number;
  /** database-restart: how long the server stays down. */
  downMs?: number;
  /** Messages accepted when it happened. */
  happenedAt?: number;
  /** When it happened (and for a restart, when the server was back), ISO time. */
  time?: string;
  until?: string;
}

export interface ChaosResult extends ExactlyOnceReport {
  seed: number;
  subscribers: number;
  workers: number;
  server: string;
  kills: number;
  databaseRestarts: number;
  /** Whether the broadcast was done, every delivery ended, within the limit. */
  finished: boolean;
  seconds: number;
  /** Messages of the broadcast the sandbox accepted. */
  messages: number;
  /** The last warnings and errors the worker processes logged (killed ones included). */
  workerWarnings: string[];
  /** Workers that exited without being killed (started again). */
  unexpectedExits: { worker: number; exit: number | string; lastLines: string[] }[];
  events: ChaosEvent[];
}

/** The disruptions of a run, from the seed alone: kills of random workers, one database restart mid-way. */
export function planChaos(options: Pick<ChaosOptions, 'subscribers' | 'workers' | 'kills' | 'seed' | 'databaseRestart'>): ChaosEvent[] {
  const random = new SeededRandom(options.seed);
  const n = options.subscribers;
  const events: ChaosEvent[] = [];
  for (let i = 0; i < options.kills; i += 1) {
    events.push({ kind: 'kill', at: random.between(Math.ceil(n * 0.03), Math.floor(n * 0.92)), worker: random.between(0, options.workers - 1) });
  }
  const restart: ChaosEvent = { kind: 'database-restart', at: random.between(Math.ceil(n * 0.4), Math.floor(n * 0.6)), downMs: random.between(1000, 4000) };
  if (options.databaseRestart ?? true) events.push(restart);
  return events.sort((a, b) => a.at - b.at);
}

/**
 * A broadcast through worker processes that are killed with SIGKILL at random moments (each
 * started again at once) while the database server restarts once in the middle; then the
 * exactly-once rules are checked against what the sandbox accepted and what the database
 * recorded. Moments are chosen by progress (messages accepted), never by the clock, so a slow
 * machine runs the same plan, only slower. `close()` stops everything, also half-way.
 */
export class ChaosRun {
  readonly #options: ChaosOptions;
  readonly #expectedExits = new Set<WorkerProcess>();
  readonly #unexpected: ChaosResult['unexpectedExits'] = [];
  readonly #spawned: { index: number; worker: WorkerProcess }[] = [];
  #server: DatabaseServer | undefined;
  #proxy: TcpProxy | undefined;
  #client: MongoClient | undefined;
  #fleet: BroadcastFleet | undefined;
  #closing = false;

  readonly #t0 = performance.now();

  constructor(options: ChaosOptions) {
    const elapsed = () => `${((performance.now() - this.#t0) / 1000).toFixed(1)} s`;
    this.#options = { ...options, report: (line) => options.report(`[${elapsed()}] ${line}`) };
  }

  async run(): Promise<ChaosResult> {
    const { subscribers, workers, seed, report } = this.#options;
    const events = planChaos(this.#options);
    const plan = events.map((e) => (e.kind === 'kill' ? `kill worker ${e.worker} at ${e.at}` : `restart the database at ${e.at} (${e.downMs} ms down)`));
    report(`chaos seed ${seed}: ${subscribers} subscribers, ${workers} workers; messages accepted → ${plan.join(', ')}`);

    const server = await startDatabaseServer({ uri: this.#options.uri, mode: 'throwaway', persistent: true, report });
    this.#server = server;
    const workerUri = await this.#workerUri(server);
    const dbName = `chaos_${seed}_${Date.now()}`;
    this.#client = new MongoClient(server.uri);
    const db = this.#client.db(dbName);
    // Seeding, the sandbox, the workers' start and the publication overlap: the workers find
    // the broadcast whenever they are up, and none of this is measured.
    const [phones, fleet] = await Promise.all([
      seedSubscribers(db, { count: subscribers }),
      this.#startFleet({
        uri: workerUri, db: dbName, workers, startWorkers: false,
        env: { SEND_RATE_MPS: '1000', JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '3000', DELIVERY_UNKNOWN_AFTER_MS: '8000' },
        sandboxArgs: ['--seed', String(seed)],
      }),
    ]);
    for (let i = 0; i < workers; i += 1) this.#spawn(i);
    const id = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: subscribers, new_cases: seed % 1000 });
    const started = performance.now();
    report(`broadcast ${id} published`);
    void fleet.listening().then(() => report('every worker listens'), () => undefined);

    await this.#disrupt(db, id, events);
    const finished = await this.#waitFinished(db, id);
    const seconds = (performance.now() - started) / 1000;
    report(finished ? `broadcast done, every delivery ended after ${seconds.toFixed(1)} s` : 'broadcast not done in time: checking what there is');
    this.#closing = true; // from here on no worker is started again
    await fleet.stopWorkers();
    report('workers stopped (SIGTERM)');
    const accepted = await fleet.accepted(id);
    const checked = await checkExactlyOnce(db, id, phones, accepted);
    const happened = (kind: ChaosEvent['kind']) => events.filter((e) => e.kind === kind && e.happenedAt !== undefined).length;
    return {
      seed, subscribers, workers, server: server.description.replace(/ at mongodb(\+srv)?:\/\/.*$/, ''),
      kills: happened('kill'), databaseRestarts: happened('database-restart'), finished, seconds: Math.round(seconds * 10) / 10, messages: accepted.length,
      ...checked,
      violations: [...(finished ? [] : [`the broadcast was not done with every delivery ended within ${this.#options.finishTimeoutMs} ms`]), ...checked.violations],
      workerWarnings: this.#warnings(), unexpectedExits: this.#unexpected, events,
    };
  }

  #warnings(): string[] {
    const lines = this.#spawned.flatMap(({ index, worker }) => worker.lines.filter((l) => /"level":"(warn|error)"|\b(warn|error)\b/.test(l)).map((l) => `worker ${index} (pid ${worker.child.pid}): ${l.slice(0, 300)}`));
    return lines.slice(-12);
  }

  /** Kills everything still running and stops the database server; safe to call at any time, twice. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#fleet?.close();
    await this.#client?.close();
    await this.#proxy?.stop();
    await this.#server?.stop();
  }

  async #startFleet(options: FleetOptions): Promise<BroadcastFleet> {
    const fleet = await BroadcastFleet.start(options);
    this.#fleet = fleet;
    if (this.#closing) await fleet.close(); // closed while it started
    return fleet;
  }

  /** The URI the workers use: the server's own, or a relay in front of MONGODB_URI that can be cut. */
  async #workerUri(server: DatabaseServer): Promise<string> {
    if (server.pause && server.restart) return server.uri;
    const url = new URL(server.uri);
    if (url.protocol !== 'mongodb:' || url.host.includes(',')) throw new Error('chaos with MONGODB_URI needs a single-host mongodb:// URI (its connections are relayed to cut them)');
    this.#proxy = new TcpProxy(url.hostname, Number(url.port || 27017));
    await this.#proxy.start();
    const relayed = new URL(server.uri);
    relayed.host = `127.0.0.1:${this.#proxy.port}`;
    relayed.searchParams.set('directConnection', 'true');
    return relayed.toString();
  }

  #spawn(index: number): void {
    const fleet = this.#fleet as BroadcastFleet;
    const worker = fleet.spawn(index);
    this.#spawned.push({ index, worker });
    void worker.exited.then(async (exit) => {
      if (this.#expectedExits.has(worker) || this.#closing) return;
      this.#unexpected.push({ worker: index, exit, lastLines: worker.lines.slice(-5) });
      this.#options.report(`worker ${index} exited by itself (${exit}); starting it again`);
      await sleep(1000);
      if (!this.#closing && fleet.slots[index] === worker) this.#spawn(index);
    });
  }

  /** Carries out the planned events as the accepted messages pass their marks. */
  async #disrupt(db: Db, id: string, events: ChaosEvent[]): Promise<void> {
    const fleet = this.#fleet as BroadcastFleet;
    const { report, subscribers } = this.#options;
    const broadcasts = new BroadcastRepository(db);
    let accepted = 0;
    for (const event of events) {
      try {
        await waitFor(`${event.at} of ${subscribers} messages to be accepted (${accepted} so far)`, async () => {
          if (this.#closing) throw new Error('chaos run closed');
          accepted = (await fleet.accepted(id)).length;
          if (accepted >= event.at) return true;
          // A broadcast that stopped sends nothing more: say so now rather than wait for the timeout.
          const broadcast = await broadcasts.get(id);
          if (broadcast && broadcast.status !== 'planning' && broadcast.status !== 'running') {
            const totals = await new DeliveryRepository(db).totals(id);
            throw new WaitAborted(`the broadcast is ${broadcast.status}${broadcast.statusReason ? ` (${broadcast.statusReason})` : ''} with ${accepted} of ${subscribers} messages accepted; deliveries: ${JSON.stringify(totals.byState)}`);
          }
          return false;
        }, this.#options.finishTimeoutMs, 500);
      } catch (err) {
        // What the workers last complained about is what tells why the broadcast stalled.
        throw new Error(`${(err as Error).message}; the workers' last warnings:\n${this.#warnings().join('\n')}`, { cause: err });
      }
      event.happenedAt = accepted;
      event.time = new Date(Date.now()).toISOString();
      if (event.kind === 'kill') {
        const index = event.worker as number;
        const worker = fleet.slots[index] as WorkerProcess;
        this.#expectedExits.add(worker);
        await fleet.kill(index);
        this.#spawn(index);
        report(`${accepted} accepted: SIGKILL to worker ${index} (pid ${worker.child.pid}), started again`);
      } else {
        report(`${accepted} accepted: database server down for ${event.downMs} ms`);
        await this.#databaseDown(event.downMs as number);
        event.until = new Date(Date.now()).toISOString();
        report('database server back');
      }
    }
  }

  async #databaseDown(ms: number): Promise<void> {
    const server = this.#server as DatabaseServer;
    if (server.pause && server.restart) {
      const t0 = performance.now();
      await server.pause();
      const t1 = performance.now();
      await sleep(ms);
      const t2 = performance.now();
      await server.restart();
      this.#options.report(`database server stopped in ${Math.round(t1 - t0)} ms, started again in ${Math.round(performance.now() - t2)} ms`);
    } else {
      this.#proxy?.cut();
      await sleep(ms);
      this.#proxy?.restore();
    }
  }

  async #waitFinished(db: Db, id: string): Promise<boolean> {
    const broadcasts = new BroadcastRepository(db);
    const deliveries = new DeliveryRepository(db);
    try {
      await waitFor('the broadcast to be done with every delivery ended', async () => {
        if (this.#closing) throw new Error('chaos run closed');
        return (await broadcasts.get(id))?.status === 'done' && (await deliveries.totals(id)).open === 0;
      }, this.#options.finishTimeoutMs, 500);
      return true;
    } catch (err) {
      this.#options.report((err as Error).message);
      return false;
    }
  }
}
