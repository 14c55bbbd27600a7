import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { SANDBOX_CREDENTIALS } from '../../config/index.js';
import type { Benchmark, BenchRow } from './benchmark.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

/** Starts `npm run sandbox` in its own process (limits off) and resolves with its URL. */
async function startSandboxProcess(extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL('../sandbox.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--port', '0', '--mps', '0', '--pair-rate', 'off', ...extra], {
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

async function measure(name: string, extra: string[]): Promise<BenchRow[]> {
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
    return [
      { name, metric: 'accepted msg/s', value: Math.round(result['2xx'] / (result.duration || DURATION_S)) },
      { name, metric: 'refused or failed requests', value: result.non2xx + result.errors + result.timeouts },
      { name, metric: 'latency p50 ms', value: result.latency.p50 },
      { name, metric: 'latency p99 ms', value: result.latency.p99 },
    ];
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

/**
 * Accepted messages per second of the sandbox with its limits off, loaded by autocannon over
 * keep-alive connections; once without webhooks, once with signed status webhooks to a receiver.
 */
export const benchmark: Benchmark = {
  name: 'sandbox-throughput',
  async run(): Promise<BenchRow[]> {
    const rows = await measure('sandbox-throughput', []);
    const receiver = await startReceiver();
    try {
      rows.push(...(await measure('sandbox-throughput+statuses', ['--webhook', receiver.url])));
      rows.push({ name: 'sandbox-throughput+statuses', metric: 'webhook POSTs received', value: receiver.received() });
    } finally {
      await receiver.stop();
    }
    rows.push({ name: 'sandbox-throughput', metric: 'connections', value: CONNECTIONS });
    return rows;
  },
};
