import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../domain/logger.js';
import { parseWebhookBody, type ParsedWebhook, type RejectedPart } from '../whatsapp/webhook-parser.js';
import { verifySignature } from '../whatsapp/webhook-signature.js';
import type { Metrics } from './metrics.js';

export interface WebhookDeps {
  verifyToken: string;
  appSecret: string;
  /** Largest accepted body in bytes; larger ones get 413. */
  bodyLimit: number;
  logger: Logger;
  metrics: Metrics;
  /**
   * Stores the batch as received, in one durable write, and says what it holds; the events are
   * stored and handled afterwards.
   */
  receive(raw: Buffer, parsed: ParsedWebhook): Promise<AcceptedBatch>;
}

/** What a stored batch holds, as the answer reports it. */
export interface AcceptedBatch {
  readonly messages: readonly unknown[];
  readonly statuses: readonly unknown[];
  readonly preferences: readonly unknown[];
  /** Parts refused one by one (recorded with the reason, the rest stored). */
  readonly rejected: readonly RejectedPart[];
  /** Events for another business number: acknowledged, not acted on. */
  readonly otherNumber: number;
  /** Messages and preferences whose timestamp was too far ahead: stored at the receive time. */
  readonly futureTimestamps: number;
}

/** How many refused parts an answer lists (and a log line: fewer); all are counted and recorded. */
const ANSWERED_REASONS = 10;
const LOGGED_REASONS = 3;

/** Counts and logs what a batch had besides stored events. */
function report(deps: WebhookDeps, summary: AcceptedBatch): void {
  for (const part of summary.rejected) deps.metrics.webhookRejected.inc({ kind: part.kind, code: part.code });
  if (summary.otherNumber > 0) {
    deps.metrics.webhookOtherNumber.inc(summary.otherNumber);
    deps.logger.warn('webhook events for another phone number ignored', { events: summary.otherNumber });
  }
  if (summary.futureTimestamps > 0) {
    deps.metrics.webhookAnomalies.inc({ anomaly: 'future_timestamp' }, summary.futureTimestamps);
    deps.logger.warn('webhook timestamps in the future: stored at the receive time', { events: summary.futureTimestamps });
  }
  if (summary.rejected.length > 0) {
    deps.logger.warn('webhook events rejected', {
      events: summary.rejected.length,
      reasons: summary.rejected.slice(0, LOGGED_REASONS).map((part) => `${part.where}: ${part.reason}`),
    });
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /webhooks/whatsapp`: Meta's verification handshake.
 * `POST /webhooks/whatsapp`: signed event batches. The signature is checked over the exact
 * bytes received, before anything is parsed; nothing is stored unless it is right. A body that
 * is not a WhatsApp envelope gets 400; inside one, each event stands alone: a bad one is recorded
 * with its reason and the rest stored (200). Reasons say where and what kind of error, never
 * what the body says. The answer comes after one durable write of the batch as received; its
 * events are stored and handled afterwards.
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
      let batch: AcceptedBatch;
      try {
        batch = await deps.receive(raw, parsed);
      } catch (err) {
        // Not stored: answer 503 so that Meta delivers the batch again.
        deps.logger.error('webhook could not be stored', { err: (err as Error).message });
        return reply.code(503).send({ error: 'could not store the events, retry later' });
      }
      report(deps, batch);
      // 200 even when parts were refused: Meta retries a 4xx batch for days, and the rest is stored.
      // Duplicates of events seen before are stored once; that is known only after the answer.
      return reply.code(200).send({
        received: { messages: batch.messages.length, statuses: batch.statuses.length, preferences: batch.preferences.length },
        rejected: { events: batch.rejected.length, reasons: batch.rejected.slice(0, ANSWERED_REASONS).map(({ where, code, reason }) => ({ where, code, reason })) },
        otherNumber: { events: batch.otherNumber },
        anomalies: { futureTimestamp: batch.futureTimestamps },
      });
    });
  });
}
