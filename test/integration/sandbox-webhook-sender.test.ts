import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { ManualClock } from '../../src/domain/clock.js';
import { WebhookSender, type WebhookSenderOptions } from '../../src/whatsapp/sandbox/webhook-sender.js';
import { verifySignature } from '../../src/whatsapp/webhook-signature.js';
import { captureLogger } from '../support/test-config.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'sender-test-secret';

interface Arrived {
  body: string;
  signature: string | undefined;
  socket: Socket;
  response: ServerResponse;
}

/**
 * A webhook receiver whose answers the test controls: `answer` decides for each POST (a status,
 * or undefined to leave it unanswered until `release`). Counts POSTs under way at once and the
 * connections they came on.
 */
class ControlledReceiver {
  readonly arrived: Arrived[] = [];
  readonly sockets = new Set<Socket>();
  readonly closedSockets = new Set<Socket>();
  answer: (index: number) => number | undefined = () => 200;
  /** Answers are held back this long (ms), so that POSTs overlap. */
  answerAfterMs = 0;
  open = 0;
  mostOpen = 0;
  url = '';
  #server: Server | undefined;
  #held: { response: ServerResponse; status: number }[] = [];

  async start(): Promise<void> {
    this.#server = createServer((request, response) => void this.#handle(request, response));
    this.#server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.closedSockets.add(socket));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/webhooks/whatsapp`;
  }

  reset(): void {
    this.arrived.length = 0;
    this.sockets.clear();
    this.closedSockets.clear();
    this.answer = () => 200;
    this.answerAfterMs = 0;
    this.open = 0;
    this.mostOpen = 0;
  }

  /** Answers every POST left unanswered so far with `status`. */
  release(status = 200): void {
    for (const held of this.#held.splice(0)) held.response.writeHead(status).end('{}');
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.open += 1;
    this.mostOpen = Math.max(this.mostOpen, this.open);
    response.on('close', () => {
      this.open -= 1;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const index = this.arrived.length;
    const signature = request.headers['x-hub-signature-256'];
    this.arrived.push({ body: Buffer.concat(chunks).toString('utf8'), signature: Array.isArray(signature) ? signature[0] : signature, socket: request.socket, response });
    const status = this.answer(index);
    if (status === undefined) {
      this.#held.push({ response, status: 200 });
      return;
    }
    if (this.answerAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerAfterMs));
    response.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {}).end('{}');
  }
}

describe('sandbox webhook sender: POSTs over node:http', () => {
  const receiver = new ControlledReceiver();
  const senders: WebhookSender[] = [];
  const clock = new ManualClock(new Date('2026-11-23T08:00:00.000Z'));

  function senderWith(options: Partial<WebhookSenderOptions> = {}): WebhookSender {
    const sender = new WebhookSender({ appSecret: SECRET, url: receiver.url, clock, ...options });
    senders.push(sender);
    return sender;
  }

  before(async () => {
    await receiver.start();
  });
  beforeEach(() => {
    receiver.reset();
  });
  afterEach(async () => {
    for (const sender of senders.splice(0)) await sender.stop();
    receiver.release();
  });
  after(async () => {
    await receiver.stop();
  });

  it('sends at most maxConnections POSTs at once, over kept-alive connections, and every webhook arrives once with its signature', async () => {
    const sender = senderWith({ maxConnections: 4 });
    receiver.answerAfterMs = 5;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => sender.deliver({ object: 'whatsapp_business_account', n: i })));
    expect(results.every(Boolean), 'every first attempt answered 200').to.equal(true);
    expect(receiver.arrived.map((a) => (JSON.parse(a.body) as { n: number }).n).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    for (const a of receiver.arrived) expect(verifySignature(Buffer.from(a.body), a.signature, SECRET)).to.deep.equal({ ok: true });
    expect(receiver.mostOpen, 'POSTs under way at once').to.be.at.most(4);
    expect(receiver.sockets.size, 'connections opened for 100 POSTs').to.be.at.most(4);
    expect(sender.delivered).to.equal(100);
    expect(sender.inFlight).to.equal(0);
  });

  it('a POST not answered within timeoutMs fails (logged as a timeout), waits for a retry and arrives once the receiver answers', async () => {
    const { logger, lines } = captureLogger('warn');
    const sender = senderWith({ timeoutMs: 200, retry: { firstDelayMs: 5, maxDelayMs: 20, forMs: 600_000 }, logger });
    receiver.answer = (index) => (index < 2 ? undefined : 200);
    expect(await sender.deliver({ object: 'whatsapp_business_account', n: 1 })).to.equal(false);
    expect(lines.some((l) => l.includes('webhook failed') && l.includes('timeout of 200ms exceeded')), lines.join('\n')).to.equal(true);
    await waitFor('the webhook to arrive on a retry', () => sender.delivered === 1, 20_000);
    expect(receiver.arrived.length).to.equal(3);
    expect(new Set(receiver.arrived.map((a) => a.body)).size, 'the same bytes at every attempt').to.equal(1);
    expect(sender.pending).to.equal(0);
  });

  it('stop() cuts the POSTs under way and those waiting their turn at once, and keeps every one as waiting for the next start', async () => {
    const waiting = new Set<string>();
    const sender = senderWith({ maxConnections: 2, timeoutMs: 600_000, onPendingChange: (id) => waiting.add(id) });
    receiver.answer = () => undefined;
    const deliveries = Array.from({ length: 5 }, (_, i) => sender.deliver({ object: 'whatsapp_business_account', n: i }));
    await waitFor('two POSTs to arrive', () => receiver.arrived.length === 2);
    expect(sender.inFlight).to.equal(5);
    await sender.stop();
    expect(await Promise.all(deliveries)).to.deep.equal([false, false, false, false, false]);
    expect(sender.inFlight).to.equal(0);
    expect(sender.pending).to.equal(5);
    const kept = [...waiting].map((id) => JSON.parse(sender.saved(id)?.body ?? 'null') as { n: number });
    expect(kept.map((k) => k.n).sort()).to.deep.equal([0, 1, 2, 3, 4]);
    await waitFor('the receiver to see its connections closed', () => [...receiver.sockets].every((s) => receiver.closedSockets.has(s)));
    expect(receiver.arrived, 'POSTs that reached the receiver').to.have.length(2);
  });

  it('does not follow a redirect: a 3xx is an answer that is not 2xx', async () => {
    const { logger, lines } = captureLogger('warn');
    const sender = senderWith({ retry: { forMs: 0 }, logger });
    receiver.answer = () => 307;
    expect(await sender.deliver({ object: 'whatsapp_business_account' })).to.equal(false);
    expect(receiver.arrived).to.have.length(1);
    expect(sender.failed).to.equal(1);
    expect(lines.some((l) => l.includes('webhook refused') && l.includes('307')), lines.join('\n')).to.equal(true);
  });

  it('a receiver that cannot be reached fails the POST with the reason, without waiting for the time limit', async () => {
    const { logger, lines } = captureLogger('warn');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const sender = senderWith({ url: `http://127.0.0.1:${port}/webhooks/whatsapp`, timeoutMs: 600_000, retry: { forMs: 0 }, logger });
    expect(await sender.deliver({ object: 'whatsapp_business_account' })).to.equal(false);
    expect(lines.some((l) => l.includes('webhook failed') && l.includes('ECONNREFUSED')), lines.join('\n')).to.equal(true);
  });
});
