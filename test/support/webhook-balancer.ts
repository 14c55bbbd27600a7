import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What stands in front of several workers in production: one webhook URL for Meta (the
 * sandbox), spread round-robin over the workers. A worker that refuses the connection (killed,
 * restarting) is passed over for the next one; when none answers, the POST gets 502 and the
 * sender retries it, as Meta does. Bodies are forwarded byte for byte, signature header included.
 */
export class WebhookBalancer {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16 });
  readonly #server: Server;
  #next = 0;
  url = '';

  constructor(private readonly upstreams: () => readonly string[]) {
    this.#server = createServer((req, res) => {
      // A sender that hangs up half-way (the sandbox stopping) ends only that request.
      this.#handle(req, res).catch(() => res.destroy());
    });
  }

  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    this.#agent.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const targets = this.upstreams();
    for (let tried = 0; tried < targets.length; tried += 1) {
      const target = targets[this.#next++ % targets.length] as string;
      const answer = await this.#forward(target, req, body);
      if (answer) {
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' }).end(answer.body);
        return;
      }
    }
    res.writeHead(502).end();
  }

  /** One attempt at one upstream; undefined when it could not be reached. */
  #forward(target: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; contentType?: string; body: Buffer } | undefined> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { 'content-length': String(body.length) };
      for (const name of ['content-type', 'x-hub-signature-256']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const outgoing = request(`${target}${req.url ?? '/'}`, { method: req.method, headers, agent: this.#agent, timeout: 10_000 }, (response) => {
        const parts: Buffer[] = [];
        response.on('data', (c: Buffer) => parts.push(c));
        response.on('end', () => resolve({ status: response.statusCode ?? 502, contentType: response.headers['content-type'], body: Buffer.concat(parts) }));
        response.on('error', () => resolve(undefined));
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error('upstream timeout')));
      outgoing.on('error', () => resolve(undefined));
      outgoing.end(body);
    });
  }
}
