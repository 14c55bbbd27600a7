import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of the database, for tests that need the database to vanish when the
 * harness cannot stop the real server (MONGODB_URI given): `cut()` drops every connection and
 * refuses new ones, `restore()` lets them through again.
 */
export class TcpProxy {
  readonly #sockets = new Set<Socket>();
  readonly #pairs = new Set<[Socket, Socket]>();
  #server: Server | undefined;
  #open = true;
  #frozen = false;
  port = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.#server = createServer((client) => {
      if (!this.#open) return client.destroy();
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.on('close', () => {
        upstream.destroy();
        this.#pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
      if (!this.#frozen) client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#open = true;
  }

  /**
   * A database that stops answering without closing anything (a hung server, a network
   * partition): no byte passes either way and the connections stay open, so the clients'
   * sockets fill up and their requests wait. New connections are accepted and hang too.
   */
  freeze(): void {
    this.#frozen = true;
    for (const s of this.#sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /** After `freeze()`: the bytes held back flow on, and so does everything after them. */
  thaw(): void {
    this.#frozen = false;
    for (const [client, upstream] of this.#pairs) client.pipe(upstream).pipe(client);
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
