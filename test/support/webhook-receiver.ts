import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: WebhookBody;
}

export interface WebhookBody {
  object: string;
  entry: { id: string; changes: { field: string; value: WebhookValue }[] }[];
}

export interface WebhookValue {
  messaging_product: string;
  metadata: { display_phone_number: string; phone_number_id: string };
  statuses?: {
    id: string;
    status: string;
    timestamp: string;
    /** Absent for a message sent to the BSUID. */
    recipient_id?: string;
    recipient_user_id?: string;
    biz_opaque_callback_data?: string;
    pricing?: { billable: boolean; pricing_model: string; type: string; category: string };
    errors?: { code: number; title: string; error_data: { details: string } }[];
  }[];
  contacts?: { profile?: { name: string }; wa_id?: string; user_id: string }[];
  messages?: Record<string, unknown>[];
}

/**
 * A real HTTP server standing in for the worker's webhook endpoint: records every POST with
 * its exact bytes. Answers with `status` (default 200). Stop it in `after`.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  status = 200;
  #server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks);
        this.received.push({ headers: request.headers, raw, body: JSON.parse(raw.toString('utf8')) as WebhookBody });
        response.writeHead(this.status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/webhooks/whatsapp`;
    return this;
  }

  /** Every status update received so far, across POSTs, in order. */
  statuses(): NonNullable<WebhookValue['statuses']> {
    return this.received.flatMap((r) => r.body.entry.flatMap((e) => e.changes.flatMap((c) => c.value.statuses ?? [])));
  }

  clear(): void {
    this.received.length = 0;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
