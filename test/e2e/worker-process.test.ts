import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { isProcessAlive } from '../../src/store/server/processes.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

async function healthStatus(url: string): Promise<number> {
  return (await fetch(`${url}/healthz`)).status;
}

describe('npm start: the worker as a process', function () {
  this.timeout(60_000);
  const running: WorkerProcess[] = [];
  const databases: string[] = [];
  const start = (env: Record<string, string | undefined>, args: string[] = []): WorkerProcess => {
    const worker = spawnWorker(env, args);
    running.push(worker);
    return worker;
  };
  const database = (name: string): string => {
    const dbName = testDatabaseName(name);
    databases.push(dbName);
    return dbName;
  };

  afterEach(async () => {
    for (const worker of running.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    for (const name of databases.splice(0)) await dropTestDatabase(name);
  });

  it('serves /healthz and stops cleanly with exit code 0 on SIGTERM', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('sigterm') });
    const url = await worker.url();
    expect(await healthStatus(url)).to.equal(200);
    const sent = Date.now();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).to.equal(0);
    expect(Date.now() - sent).to.be.below(10_000);
    expect(worker.lines.some((l) => l.includes('"message":"stopped"'))).to.equal(true);
  });

  it('treats the doubled SIGINT of one Ctrl-C as one and still stops cleanly', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, MONGODB_DB: database('sigint') });
    await worker.url();
    worker.child.kill('SIGINT');
    worker.child.kill('SIGINT'); // the terminal and npm both deliver it
    expect(await worker.exited).to.equal(0);
    expect(worker.lines.join('\n')).not.to.include('exiting now');
  });

  it('refuses a bad configuration value with one line naming the variable', async () => {
    const worker = start({ MONGODB_URI: testServer().uri, PORT: 'eighty' });
    expect(await worker.exited).to.equal(78);
    const output = worker.lines.filter((l) => l.trim() !== '');
    expect(output).to.deep.equal(['error: invalid configuration: PORT="eighty" (expected an integer from 0 to 65535)']);
  });

  it('prints usage for --help and exits 0 without starting anything', async () => {
    const worker = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/' }, ['--help']);
    expect(await worker.exited).to.equal(0);
    expect(worker.lines[0]).to.equal('Usage: npm start');
  });
});

describe('npm start without MONGODB_URI: the local database server', function () {
  this.timeout(5 * 60_000);
  let dataDir: string;
  const running: WorkerProcess[] = [];

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'optin-local-'));
  });

  after(async () => {
    for (const worker of running) {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    for (const kind of ['mongo-java-server', 'mongod', 'memory-server']) {
      const stateFile = join(dataDir, kind, 'server.json');
      if (existsSync(stateFile)) {
        const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
        if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('two workers started at once share one server, which stops with the last of them', async () => {
    const env = { MONGODB_URI: undefined, LOCAL_DB_DIR: dataDir, MONGODB_DB: 'local_share_test' };
    const a = spawnWorker(env);
    const b = spawnWorker(env);
    running.push(a, b);
    const [urlA, urlB] = await Promise.all([a.url(4 * 60_000), b.url(4 * 60_000)]);
    expect(await healthStatus(urlA)).to.equal(200);
    expect(await healthStatus(urlB)).to.equal(200);

    const kind = ['mongo-java-server', 'mongod', 'memory-server'].find((k) => existsSync(join(dataDir, k, 'server.json')));
    expect(kind, 'a server.json in the data folder').to.be.a('string');
    const stateFile = join(dataDir, kind!, 'server.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; users: number[] };
    expect(state.users).to.have.members([a.child.pid, b.child.pid]);
    expect(isProcessAlive(state.pid)).to.equal(true);

    a.child.kill('SIGTERM');
    expect(await a.exited).to.equal(0);
    expect(isProcessAlive(state.pid), 'server still running for the other worker').to.equal(true);
    expect(await healthStatus(urlB)).to.equal(200);

    b.child.kill('SIGTERM');
    expect(await b.exited).to.equal(0);
    await waitFor('the shared server to stop with its last user', () => !isProcessAlive(state.pid), 15_000);
    expect(existsSync(stateFile)).to.equal(false);
  });
});
