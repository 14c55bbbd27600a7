import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../domain/logger.js';
import type { IngestSummary } from '../app/webhook-ingest.js';
import { parseWebhookBody, type ParsedWebhook } from '../whatsapp/webhook-parser.js';
import { verifySignature } from '../whatsapp/webhook-signature.js';
import type { Metrics } from './metrics.js';

export interface WebhookDeps {
  verifyToken: string;
  appSecret: string;
  /** Largest accepted body in bytes; larger ones get 413. */
  bodyLimit: number;
  logger: Logger;
  metrics: Metrics;
  /** Stores the events; slow work happens later. */
  ingest(parsed: ParsedWebhook): Promise<IngestSummary>;
  /** Called after a successful store, to start handling what came in. */
  afterIngest(summary: IngestSummary): void;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /webhooks/whatsapp`: Meta's verification handshake.
 * `POST /webhooks/whatsapp`: signed event batches. The signature is checked over the exact
 * bytes received, before anything is parsed; nothing is stored unless it is right.
 */
export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookDeps): void {
  app.get<{ Querystring: Record<string, string | undefined> }>('/webhooks/whatsapp', async (request, reply) => {
    const mode = request.query['hub.mode'];
    const token = request.query['hub.verify_token'] ?? '';
    const challenge = request.query['hub.challenge'] ?? '';
    if (mode === 'subscribe' && sameSecret(token, deps.verifyToken)) {
      return reply.code(200).type('text/plain').send(challenge);
    }
    deps.logger.warn('webhook verification refused', { mode });
    return reply.code(403).send({ error: 'verification failed: hub.mode must be subscribe and hub.verify_token must match' });
  });

  void app.register(async (scope) => {
    // Keep the raw bytes: the signature is over them, and re-serialised JSON would differ.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_request, body, done) => done(null, body));

    scope.post('/webhooks/whatsapp', { bodyLimit: deps.bodyLimit }, async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signature = verifySignature(raw, request.headers['x-hub-signature-256'], deps.appSecret);
      if (!signature.ok) {
        deps.logger.warn('webhook refused', { reason: signature.reason, bytes: raw.length });
        return reply.code(401).send({ error: signature.reason });
      }
      const parsed = parseWebhookBody(raw);
      if (!parsed.ok) {
        deps.logger.warn('webhook rejected', { reason: parsed.reason });
        return reply.code(400).send({ error: parsed.reason });
      }
      let summary: IngestSummary;
      try {
        summary = await deps.ingest(parsed);
      } catch (err) {
        // Not stored: answer 503 so that Meta delivers the batch again.
        deps.logger.error('webhook could not be stored', { err: (err as Error).message });
        return reply.code(503).send({ error: 'could not store the events, retry later' });
      }
      deps.afterIngest(summary);
      return reply.code(200).send({ received: summary });
    });
  });
}
