import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { isProcessAlive } from '../../src/store/server/processes.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

interface ServerState {
  pid: number;
  port: number;
  users: number[];
}

/**
 * `npm start` without MONGODB_URI on a machine without mongod: the local server keeps its data
 * in LOCAL_DB_DIR, so subscribers survive a restart, and a worker killed with SIGKILL leaves
 * the server running for the next start.
 */
describe('npm start without MONGODB_URI: the local data survives restarts', function () {
  this.timeout(5 * 60_000);
  let dataDir: string;
  let kind: string;
  const running: WorkerProcess[] = [];
  const env = (): Record<string, string | undefined> => ({ MONGODB_URI: undefined, LOCAL_DB_DIR: dataDir, MONGODB_DB: 'local_persist_test' });
  const state = (): ServerState => JSON.parse(readFileSync(join(dataDir, kind, 'server.json'), 'utf8')) as ServerState;
  const withDatabase = async <T>(fn: (client: MongoClient) => Promise<T>): Promise<T> => {
    const client = new MongoClient(`mongodb://127.0.0.1:${state().port}/`, { serverSelectionTimeoutMS: 10_000 });
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };
  const startWorker = async (): Promise<WorkerProcess> => {
    const worker = spawnWorker(env());
    running.push(worker);
    await worker.url(4 * 60_000);
    return worker;
  };

  before(function () {
    dataDir = mkdtempSync(join(tmpdir(), 'optin-persist-'));
  });

  after(async () => {
    for (const worker of running) {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    try {
      const { pid } = state();
      if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // no server left
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the subscribers across a stop and a start, and a killed worker leaves the server to the next start', async () => {
    const first = await startWorker();
    kind = ['mongo-java-server', 'mongod', 'memory-server'].find((k) => {
      try {
        readFileSync(join(dataDir, k, 'server.json'));
        return true;
      } catch {
        return false;
      }
    }) as string;
    expect(kind, 'a server.json in the data folder').to.be.a('string');
    const contact = { _id: '+4915100000001', status: 'active', subscriptions: { fallzahlen: { state: 'subscribed' } } };
    await withDatabase((client) => client.db('local_persist_test').collection('contacts').insertOne(contact as never));

    // A clean stop: the last user stops the server, which writes its data to disk.
    const serverPid = state().pid;
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);
    await waitFor('the local server to stop with its last user', () => !isProcessAlive(serverPid), 30_000);

    const second = await startWorker();
    expect(state().pid, 'a new server process').to.not.equal(serverPid);
    expect(await withDatabase((client) => client.db('local_persist_test').collection('contacts').findOne({ _id: contact._id as never }))).to.deep.include({ status: 'active' });

    // SIGKILL: the server runs in its own process group and stays up; the next worker uses it.
    const survivingPid = state().pid;
    second.child.kill('SIGKILL');
    await second.exited;
    expect(isProcessAlive(survivingPid), 'the server outlives a killed worker').to.equal(true);
    const third = await startWorker();
    expect(state().pid, 'the same server, reused').to.equal(survivingPid);
    expect(state().users).to.deep.equal([third.child.pid]);
    expect(await withDatabase((client) => client.db('local_persist_test').collection('contacts').countDocuments())).to.equal(1);

    third.child.kill('SIGTERM');
    expect(await third.exited).to.equal(0);
    await waitFor('the reused server to stop with its last user', () => !isProcessAlive(survivingPid), 30_000);
  });
});
