import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { waitFor } from './wait-for.js';

/** The relay's process: pipes each connection to the target; an accept queue of one. */
const RELAY = `
const net = require('net');
const target = Number(process.argv[1]);
const server = net.createServer((client) => {
  const upstream = net.connect(target, '127.0.0.1');
  for (const s of [client, upstream]) s.on('error', () => {});
  client.pipe(upstream).pipe(client);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(server.address().port));
`;

/**
 * A TCP relay to a local port, in a process of its own so that it can be made unreachable the
 * way a host that drops packets is: `unreachable()` stops the process and fills its accept
 * queue, after which the kernel drops new connection attempts, so a connect hangs instead of
 * being refused. `reachable()` lets connections through again.
 */
export class StoppableRelay {
  readonly #fillers: Socket[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<StoppableRelay> {
    const child = spawn(process.execPath, ['-e', RELAY, String(targetPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the relay exited with ${code}`)));
      child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    return new StoppableRelay(child, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** New connections hang from now on (the ones the queue took first are the relay's own). */
  async unreachable(): Promise<void> {
    this.child.kill('SIGSTOP');
    for (let i = 0; i < 8; i += 1) this.#fillers.push(connect(this.port, '127.0.0.1').on('error', () => undefined));
    // The queue holds backlog + 1 connections; the attempts beyond them stay unanswered.
    await waitFor('the stopped relay to have a full accept queue', () => (this.#fillers.filter((f) => !f.connecting).length >= 2 ? true : undefined), 10_000);
  }

  reachable(): void {
    this.child.kill('SIGCONT');
    for (const f of this.#fillers.splice(0)) f.destroy();
  }

  stop(): void {
    for (const f of this.#fillers.splice(0)) f.destroy();
    this.child.kill('SIGKILL');
  }
}
