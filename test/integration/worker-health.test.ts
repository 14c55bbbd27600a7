import { expect } from 'chai';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { systemClock } from '../../src/app/system-clock.js';
import { startDatabaseServer, type DatabaseServer } from '../../src/store/server/local-server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { dropTestDatabase, testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_JOBS } from '../../jobs/index.js';

interface Health {
  status: string;
  database: { state: string; latencyMs?: number; error?: string };
  scheduler: { state: string };
}

async function health(worker: Worker): Promise<{ status: number; body: Health }> {
  const response = await fetch(`${worker.url}/healthz`);
  return { status: response.status, body: (await response.json()) as Health };
}

describe('worker: health and metrics over HTTP', function () {
  let worker: Worker;
  const dbName = testDatabaseName(import.meta.url);

  before(async () => {
    worker = await startWorker(testConfig({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName }), captureLogger('warn').logger, systemClock, WORKER_JOBS);
  });

  after(async () => {
    await worker?.stop();
    await dropTestDatabase(dbName);
  });

  it('GET /healthz answers 200 with database and scheduler state', async () => {
    const { status, body } = await health(worker);
    expect(status).to.equal(200);
    expect(body.status).to.equal('ok');
    expect(body.database.state).to.equal('up');
    expect(body.database.latencyMs).to.be.a('number');
    expect(body.scheduler.state).to.equal('running');
  });

  it('GET /metrics answers Prometheus text with process metrics and the database gauge', async () => {
    await health(worker);
    const response = await fetch(`${worker.url}/metrics`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).to.match(/^process_cpu_user_seconds_total \d/m);
    expect(text).to.match(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).to.match(/^optin_database_up 1$/m);
    expect(text).to.match(/^optin_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/m);
  });

  it('answers 404 as JSON for an unknown path', async () => {
    const response = await fetch(`${worker.url}/nope`);
    expect(response.status).to.equal(404);
  });
});

describe('worker: health while the database is gone', function () {
  this.timeout(60_000);
  let server: DatabaseServer | undefined;
  let proxy: TcpProxy | undefined;
  let worker: Worker | undefined;
  let stopDatabase: () => Promise<void>;
  const dbName = testDatabaseName(import.meta.url);
  let startDatabase: () => Promise<void>;

  before(async function () {
    this.timeout(120_000);
    let uri: string;
    if (testServer().source === 'MONGODB_URI') {
      // The harness cannot stop a server it was given: make it unreachable instead.
      const target = new URL(testServer().uri);
      proxy = new TcpProxy(target.hostname, Number(target.port || 27017));
      await proxy.start();
      uri = `mongodb://127.0.0.1:${proxy.port}/`;
      stopDatabase = async () => proxy?.cut();
      startDatabase = async () => proxy?.restore();
    } else {
      // A server of our own, really stopped and started again on the same port and data.
      server = await startDatabaseServer({ mode: 'throwaway', persistent: true, report: () => undefined });
      uri = server.uri;
      stopDatabase = async () => server?.pause?.();
      startDatabase = async () => server?.restart?.();
    }
    worker = await startWorker(
      testConfig({ MONGODB_URI: uri, MONGODB_DB: dbName, HEALTH_DB_TIMEOUT_MS: '1000' }),
      captureLogger('error').logger,
      systemClock,
      WORKER_JOBS,
    );
  });

  after(async () => {
    await startDatabase?.();
    await worker?.stop();
    await server?.stop(); // a server of our own goes with its data
    if (proxy) await dropTestDatabase(dbName);
    await proxy?.stop();
  });

  it('answers 503 while the database is stopped and 200 again by itself once it is back', async () => {
    expect((await health(worker!)).status).to.equal(200);

    await stopDatabase();
    const down = await waitFor('/healthz to answer 503', async () => {
      const result = await health(worker!);
      return result.status === 503 ? result : undefined;
    }, 15_000);
    expect(down.body.status).to.equal('unavailable');
    expect(down.body.database.state).to.equal('down');
    expect(down.body.database.error).to.be.a('string').and.not.equal('');
    expect(down.body.scheduler.state).to.equal('running');
    const metrics = await (await fetch(`${worker!.url}/metrics`)).text();
    expect(metrics).to.match(/^optin_database_up 0$/m);

    await startDatabase();
    const up = await waitFor('/healthz to recover to 200', async () => {
      const result = await health(worker!);
      return result.status === 200 ? result : undefined;
    }, 30_000, 250);
    expect(up.body.database.state).to.equal('up');
  });
});
