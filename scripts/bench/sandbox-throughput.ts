import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { SANDBOX_CREDENTIALS } from '../../config/index.js';
import type { Benchmark, BenchRow } from './benchmark.js';
import { commandArgs } from '../../test/support/command-line.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

/** Starts `npm run sandbox` in its own process (limits off) and resolves with its URL. */
async function startSandboxProcess(extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...commandArgs('sandbox'), '--port', '0', '--mps', '0', '--pair-rate', 'off', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WHATSAPP_API_BASE: '', LOG_LEVEL: 'warn' },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const match = /listening on (\S+)/.exec(line);
    if (match?.[1]) return { child, url: match[1] };
  }
  throw new Error('the sandbox exited before it listened');
}

/** A webhook endpoint that takes everything, standing in for the worker. */
async function startReceiver(): Promise<{ url: string; received: () => number; stop: () => Promise<void> }> {
  let count = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      count += 1;
      response.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/whatsapp`,
    received: () => count,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Measured {
  acceptedPerSec: number;
  refusedOrFailed: number;
  p50Ms: number;
  p99Ms: number;
}

async function measure(extra: string[]): Promise<Measured> {
  const { child, url } = await startSandboxProcess(extra);
  try {
    const body = JSON.stringify({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '4915112345678', type: 'template',
      template: { name: 'hello_world', language: { code: 'en_US' } }, biz_opaque_callback_data: 'bench',
    });
    const result = await autocannon({
      url: `${url}/v25.0/${SANDBOX_CREDENTIALS.phoneNumberId}/messages`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SANDBOX_CREDENTIALS.token}` },
      body,
      connections: CONNECTIONS,
      duration: DURATION_S,
    });
    return {
      acceptedPerSec: Math.round(result['2xx'] / (result.duration || DURATION_S)),
      refusedOrFailed: result.non2xx + result.errors + result.timeouts,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
    };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

function rowsOf(name: string, m: Measured): BenchRow[] {
  return [
    { name, metric: 'accepted msg/s', value: m.acceptedPerSec },
    { name, metric: 'refused or failed requests', value: m.refusedOrFailed },
    { name, metric: 'latency p50 ms', value: m.p50Ms },
    { name, metric: 'latency p99 ms', value: m.p99Ms },
  ];
}

/**
 * Accepted messages per second of the sandbox with its limits off, loaded by autocannon over
 * keep-alive connections; once without webhooks, once with signed status webhooks to a receiver.
 */
export const benchmark: Benchmark = {
  name: 'sandbox-throughput',
  flags: [],
  async run(context): Promise<BenchRow[]> {
    const plain = await measure([]);
    const receiver = await startReceiver();
    let withStatuses: Measured;
    let received: number;
    try {
      withStatuses = await measure(['--webhook', receiver.url]);
      received = receiver.received();
    } finally {
      await receiver.stop();
    }
    context.record({ connections: CONNECTIONS, seconds: DURATION_S, withoutWebhooks: plain, withStatusWebhooks: { ...withStatuses, webhookPostsReceived: received } });
    return [
      ...rowsOf('sandbox-throughput', plain),
      ...rowsOf('sandbox-throughput+statuses', withStatuses),
      { name: 'sandbox-throughput+statuses', metric: 'webhook POSTs received', value: received },
      { name: 'sandbox-throughput', metric: 'connections', value: CONNECTIONS },
    ];
  },
};
