import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { MongoClient } from 'mongodb';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { DeliveryRepository } from '../../src/store/delivery-repository.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { BroadcastFleet, type AcceptedMessage } from '../../test/support/broadcast-fleet.js';
import { entry, envelope, messagesChange, status } from '../../test/support/meta-webhooks.js';
import { cpuMs } from '../../test/support/process-stats.js';
import { seedSubscribers } from '../../test/support/seed.js';
import { EXTERNAL_API_CREDENTIALS } from '../../test/support/test-config.js';
import { waitFor } from '../../test/support/wait-for.js';
import { integersFromEnv, round, secondsFromEnv, type Benchmark, type BenchRow } from './benchmark.js';
import { serverName } from './fan-out.js';

interface Load {
  posts: number;
  events: number;
  non2xx: number;
  errors: number;
  seconds: number;
  postsPerSec: number;
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * POSTs the signed bodies to `url` with autocannon, `connections` at a time, each body once,
 * until all are sent or `maxSeconds` have passed. A few POSTs without events go first,
 * uncounted (connections opened and code paths compiled on both sides). With `drained`, the
 * phase ends when it says every answered batch's events are stored (the worker answers after
 * storing the batch as received and stores its events afterwards), so the rate is of events
 * stored, not of answers.
 */
async function postAll(url: string, bodies: readonly { raw: string; signature: string; events: number }[], connections: number, maxSeconds: number, drained?: () => Promise<boolean>): Promise<Load> {
  const empty = JSON.stringify(envelope(entry(messagesChange({}))));
  const headers = (signature: string) => ({ 'content-type': 'application/json', 'x-hub-signature-256': signature });
  await autocannon({ url, method: 'POST', connections, amount: connections * 4, body: empty, headers: headers(signBody(empty, EXTERNAL_API_CREDENTIALS.WHATSAPP_APP_SECRET)) });
  let next = 0;
  let events = 0;
  const started = performance.now();
  let lastAnswer = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url,
      method: 'POST',
      connections,
      amount: bodies.length,
      requests: [{
        setupRequest: (request) => {
          const body = bodies[next++ % bodies.length] as (typeof bodies)[number];
          events += body.events;
          return { ...request, body: body.raw, headers: headers(body.signature) };
        },
      }],
    }, (err, done) => {
      clearTimeout(cap);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(done);
    });
    const cap = setTimeout(() => instance.stop(), maxSeconds * 1000);
    instance.on('response', () => (lastAnswer = performance.now()));
  });
  // autocannon notices the end on its next one-second tick: the phase ends with its last answer,
  // or once the events of every answered batch are stored.
  if (drained) {
    await waitFor('the events of the answered batches to be stored', async () => (await drained()) || undefined, 10 * 60_000, 20);
    lastAnswer = Math.max(lastAnswer, performance.now());
  }
  const seconds = (lastAnswer - started) / 1000;
  const ok = result['2xx'];
  // Events of the POSTs answered 2xx (the bodies differ only in the last one's size).
  const ingested = ok === next ? events : Math.round((events * ok) / Math.max(1, next));
  return {
    posts: result.requests.total, events: ingested, non2xx: result.non2xx, errors: result.errors + result.timeouts, seconds: round(seconds, 2),
    postsPerSec: round(ok / seconds), eventsPerSec: round(ingested / seconds), p50Ms: result.latency.p50, p99Ms: result.latency.p99,
  };
}

/** Signed Meta-format bodies, each with `perPost` `read` statuses of messages the sandbox accepted. */
function readStatusBodies(messages: readonly AcceptedMessage[], perPost: number): { raw: string; signature: string; events: number }[] {
  const bodies = [];
  const timestamp = String(Math.floor(Date.now() / 1000));
  for (let i = 0; i < messages.length; i += perPost) {
    const part = messages.slice(i, i + perPost);
    const statuses = part.map((m) => status(m.wamid, 'read', m.to, { timestamp, biz_opaque_callback_data: m.callbackData }));
    const raw = JSON.stringify(envelope(entry(messagesChange({ statuses }))));
    bodies.push({ raw, signature: signBody(raw, EXTERNAL_API_CREDENTIALS.WHATSAPP_APP_SECRET), events: part.length });
  }
  return bodies;
}

/** A plain HTTP server in a process of its own that answers every POST with `{}`: the ceiling of the client and loopback. */
async function startEcho(): Promise<{ url: string; stop(): Promise<void> }> {
  const source = "require('http').createServer((q,s)=>{q.resume();q.on('end',()=>s.writeHead(200,{'content-type':'application/json'}).end('{}'))}).listen(0,'127.0.0.1',function(){console.log('listening on '+this.address().port)})";
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for await (const line of createInterface({ input: child.stdout })) {
    const port = /listening on (\d+)/.exec(line)?.[1];
    if (port) {
      child.stdout.resume();
      return {
        url: `http://127.0.0.1:${port}/webhooks/whatsapp`,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
  }
  throw new Error('the echo server exited before it listened');
}

/**
 * Status webhooks as Meta sends them (signed POSTs of `read` statuses for deliveries that
 * exist) to one worker process: events ingested per second and the POST latency, once with the
 * worker otherwise idle and once while it fans out a broadcast, beside a plain HTTP echo on the
 * same loopback. The deliveries come from a first broadcast through the same worker (the
 * sandbox sends no `read` statuses itself, so every posted status is new to the worker).
 */
export const benchmark: Benchmark = {
  name: 'webhook',
  flags: ['subscribers'],
  async run(context) {
    const subscribers = context.options.subscribers?.[0] ?? integersFromEnv('BENCH_SUBSCRIBERS', '2000')[0] ?? 2000;
    const perPost = integersFromEnv('BENCH_WEBHOOK_EVENTS_PER_POST', '5')[0] ?? 5;
    const connections = integersFromEnv('BENCH_CONNECTIONS', '8')[0] ?? 8;
    const cap = Math.min(secondsFromEnv('BENCH_DURATION_S'), 60);
    const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', report: (line) => context.progress(line) });
    const dbName = `bench_webhook_${Date.now()}`;
    const client = new MongoClient(server.uri);
    let fleet: BroadcastFleet | undefined;
    const echo = await startEcho();
    try {
      const db = client.db(dbName);
      await seedSubscribers(db, { count: subscribers });
      const nodeOptions = process.env.BENCH_WORKER_NODE_OPTIONS; // as for fan-out: after npm start's flags
      fleet = await BroadcastFleet.start({ uri: server.uri, db: dbName, workers: 1, env: { SEND_RATE_MPS: '10000' }, workerEnv: nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}, sandboxArgs: ['--read-probability', '0'] });
      const workerUrl = `${await fleet.slots[0]?.url()}/webhooks/whatsapp`;
      const workerPid = fleet.workerPids()[0] as number;
      const deliveries = new DeliveryRepository(db);
      const broadcasts = new BroadcastRepository(db);

      context.progress(`a first broadcast to ${subscribers} subscribers makes the deliveries the statuses are for ...`);
      const first = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: subscribers, new_cases: 1 });
      await waitFor('the first broadcast to be done', async () => (await broadcasts.get(first))?.status === 'done', 30 * 60_000, 500);
      const sent = await fleet.accepted(first);
      // The sandbox's own sent / delivered statuses of the first broadcast settle before the measurement.
      await waitFor('the sandbox statuses of the first broadcast to be applied', async () => ((await deliveries.totals(first)).byState.delivered ?? 0) >= sent.length, 120_000, 500).catch(() => context.progress('not every delivered status was applied within 2 minutes; measuring anyway'));
      const half = Math.floor(sent.length / 2);
      const quiet = readStatusBodies(sent.slice(0, half), perPost);
      const busy = readStatusBodies(sent.slice(half), perPost);

      context.progress(`plain HTTP echo: ${quiet.length} POSTs ...`);
      const baseline = await postAll(echo.url, quiet, connections, cap);
      context.progress(`worker alone: ${quiet.length} POSTs of ${perPost} read statuses ...`);
      const cpu0 = cpuMs(workerPid) ?? 0;
      const drained = async () => (await db.collection(WEBHOOK_BATCHES).estimatedDocumentCount()) === 0;
      const alone = await postAll(workerUrl, quiet, connections, cap, drained);
      const cpuPerEvent = ((cpuMs(workerPid) ?? 0) - cpu0) / Math.max(1, alone.events);

      const second = await fleet.publish({ date: '2026-11-21T09:00:00Z', cases: subscribers, new_cases: 2 });
      const progress = async () => (await fleet?.accepted(second))?.length ?? 0;
      const startAt = Math.ceil(subscribers / 10);
      await waitFor(`the second broadcast to have sent ${startAt} messages`, async () => (await progress()) >= startAt, 10 * 60_000, 250);
      const acceptedAtStart = await progress();
      context.progress(`worker fanning out (${acceptedAtStart} of ${subscribers} sent): ${busy.length} POSTs ...`);
      const during = await postAll(workerUrl, busy, connections, cap, drained);
      const acceptedAtEnd = await progress();

      const record = {
        subscribers, eventsPerPost: perPost, connections, server: serverName(server), node: process.version,
        posts: alone.posts, eventsPerSec: alone.eventsPerSec, postsPerSec: alone.postsPerSec, p50Ms: alone.p50Ms, p99Ms: alone.p99Ms, non2xx: alone.non2xx + alone.errors,
        workerCpuMsPerEvent: round(cpuPerEvent, 3),
        echo: { postsPerSec: baseline.postsPerSec, p50Ms: baseline.p50Ms, p99Ms: baseline.p99Ms },
        shareOfEcho: round(alone.postsPerSec / baseline.postsPerSec, 4),
        duringFanOut: {
          posts: during.posts, eventsPerSec: during.eventsPerSec, p50Ms: during.p50Ms, p99Ms: during.p99Ms, non2xx: during.non2xx + during.errors,
          fanOutSentAtStart: acceptedAtStart, fanOutSentAtEnd: acceptedAtEnd, fanOutRanThroughout: acceptedAtEnd < subscribers,
        },
      };
      context.record(record);
      const rows: BenchRow[] = [
        { name: 'webhook', metric: `${perPost} read statuses per POST, ${connections} connections: status events/s stored`, value: alone.eventsPerSec },
        { name: 'webhook', metric: 'latency median / p99, ms', value: `${alone.p50Ms} / ${alone.p99Ms}` },
        { name: 'webhook', metric: `share of a plain HTTP echo's POSTs/s (${baseline.postsPerSec})`, value: record.shareOfEcho },
        { name: 'webhook', metric: 'worker CPU ms per status event', value: record.workerCpuMsPerEvent },
        { name: 'webhook', metric: 'during a fan-out: status events/s stored', value: during.eventsPerSec },
        { name: 'webhook', metric: 'during a fan-out: latency median / p99, ms', value: `${during.p50Ms} / ${during.p99Ms}` },
        { name: 'webhook', metric: 'POSTs not answered 2xx', value: record.non2xx + record.duringFanOut.non2xx },
      ];
      return rows;
    } finally {
      await fleet?.close();
      if (server.source === 'MONGODB_URI') await client.db(dbName).dropDatabase().catch(() => undefined);
      await client.close();
      await server.stop();
      await echo.stop();
    }
  },
};
