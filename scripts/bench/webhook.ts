import autocannon from 'autocannon';
import { MongoClient } from 'mongodb';
import { SANDBOX_CREDENTIALS } from '../../config/index.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { spawnWorkerForBench } from './worker-process.js';
import type { Benchmark, BenchRow } from './benchmark.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);

/** A signed Meta-format webhook with `count` text messages from new contacts. */
function body(prefix: string, sequence: number, count: number): string {
  const ts = String(Math.floor(Date.now() / 1000));
  // Valid German mobile numbers (+49 160 / 170 / 171 and 8 digits), a new one per message.
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${String(sequence * count + i).padStart(8, '0')}`);
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000001', phone_number_id: SANDBOX_CREDENTIALS.phoneNumberId },
      contacts: ids.map((id) => ({ profile: { name: 'Bench' }, wa_id: id })),
      messages: ids.map((id) => ({ from: id, id: `wamid.bench.${id}`, timestamp: ts, type: 'text', text: { body: 'Hallo' } })),
    } }] }],
  });
}

async function load(url: string, perPost: number, connections: number, prefix: string): Promise<autocannon.Result> {
  let sequence = 0;
  return autocannon({
    url: `${url}/webhooks/whatsapp`,
    method: 'POST',
    connections,
    duration: DURATION_S,
    requests: [{
      setupRequest: (request) => {
        const raw = body(prefix, sequence++, perPost);
        return { ...request, body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, SANDBOX_CREDENTIALS.appSecret) } };
      },
    }],
  });
}

/** The worker as `npm start` runs it (with its sandbox), under signed webhook POSTs from autocannon. */
export const benchmark: Benchmark = {
  name: 'webhook',
  async run() {
    const server = await startDatabaseServer({ uri: process.env.MONGODB_URI, mode: 'throwaway', report: (line) => process.stderr.write(`${line}\n`) });
    const worker = await spawnWorkerForBench(server.uri, 'bench_webhook');
    const client = new MongoClient(server.uri);
    const rows: BenchRow[] = [];
    try {
      for (const [perPost, connections, prefix] of [[1, 1, '49160'], [1, CONNECTIONS, '49170'], [100, 2, '49171']] as const) {
        const before = await client.db('bench_webhook').collection(INBOUND).countDocuments();
        const result = await load(worker.url, perPost, connections, prefix);
        const stored = (await client.db('bench_webhook').collection(INBOUND).countDocuments()) - before;
        const label = `${perPost === 1 ? '1 message' : `${perPost} messages`} per POST, ${connections} connection${connections === 1 ? '' : 's'}`;
        rows.push({ name: 'webhook', metric: `${label}: latency median / p99, ms`, value: `${result.latency.p50} / ${result.latency.p99}` });
        rows.push({ name: 'webhook', metric: `${label}: POSTs/s (non-2xx: ${result.non2xx})`, value: Math.round(result.requests.average) });
        rows.push({ name: 'webhook', metric: `${label}: inbound messages stored/s`, value: Math.round(stored / DURATION_S) });
      }
    } finally {
      await client.close();
      await worker.stop();
      await server.stop();
    }
    return rows;
  },
};
