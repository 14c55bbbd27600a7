import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import type { JobDefinition } from '../../src/app/job-definition.js';
import { createScheduler, JOBS_COLLECTION, type Scheduler } from '../../src/app/scheduler.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { captureLogger } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A worker's scheduler locks at most as many jobs of a name as it runs at once. A lock whose
 * answer comes back late (the database stalled longer than the lock lifetime) is expired by the
 * time the job would start: Agenda drops that job, and must not go on counting it as locked, or
 * the worker never takes a job of that name again (`src/app/agenda-repair.ts`).
 */
describe('scheduler: a lock answered after its lifetime', function () {
  this.timeout(60_000);
  const dbName = testDatabaseName(import.meta.url);
  let proxy: TcpProxy;
  let client: MongoClient;
  let direct: MongoClient;
  let scheduler: Scheduler<object> | undefined;

  before(async () => {
    const target = new URL(testServer().uri);
    proxy = new TcpProxy(target.hostname, Number(target.port || 27017));
    await proxy.start();
    client = new MongoClient(`mongodb://127.0.0.1:${proxy.port}/`, { serverSelectionTimeoutMS: 30_000 });
    await client.connect();
    direct = new MongoClient(testServer().uri);
    await direct.connect();
  });
  after(async () => {
    proxy.thaw();
    await scheduler?.stop(5000);
    await client.close();
    await direct.close();
    await proxy.stop();
    await dropTestDatabase(dbName);
  });

  it('takes the job again and runs it', async () => {
    const runs: string[] = [];
    const job: JobDefinition<never, object> = {
      name: 'late-lock-job',
      concurrency: 1,
      lockLifetimeMs: 1000,
      async handle(data: { id: string }) {
        runs.push(data.id);
      },
    };
    // Polls 3 s apart: the first poll's lock is the only one sent while the database is held.
    scheduler = createScheduler({ db: client.db(dbName), logger: captureLogger('warn').logger, pollIntervalMs: 3000, lockLifetimeMs: 1000, jobs: [job as JobDefinition<never, object>], deps: {} });
    await scheduler.agenda.ready;
    await direct.db(dbName).collection(JOBS_COLLECTION).insertOne({ name: 'late-lock-job', data: { id: 'one' }, type: 'normal', priority: 0, nextRunAt: new Date(Date.now() - 1000), lastModifiedBy: null } as never);

    proxy.freeze(); // the database stops answering this worker
    const starting = scheduler.start();
    await sleep(2000); // longer than the lock lifetime
    proxy.thaw(); // the lock arrives, already expired
    await starting;

    await waitFor('the job to run', () => (runs.length > 0 ? true : undefined), 40_000, 100);
    expect(runs).to.deep.equal(['one']);
  });
});
