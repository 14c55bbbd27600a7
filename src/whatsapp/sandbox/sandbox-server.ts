import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from '../../domain/logger.js';
import { loadRateCard } from '../../../config/broadcasts.js';
import type { Clock } from '../../domain/clock.js';
import type { RateCard } from '../../domain/pricing.js';
import { DEFAULT_TEMPLATES, templateMap, type ApprovedTemplate } from './approved-templates.js';
import { contactInput, describeIssue, inboundContent, inboundInput, webhookInput, type ContactInput, type InboundInput } from './control-inputs.js';
import { metaError } from './error-catalog.js';
import { handleSend, type SendContext } from './send-handler.js';
import { SandboxState, waIdOf, type AcceptedMessage } from './sandbox-state.js';
import { SeededRandom } from './seeded-random.js';
import { SentButtons, type MessageButtons } from './sent-buttons.js';
import { DEFAULT_STATUS_OPTIONS, StatusWebhooks, type StatusOptions } from './status-webhooks.js';
import type { PairRate } from './rate-limits.js';
import { inboundWebhook, type BusinessIdentity } from './webhook-payloads.js';
import { WebhookSender } from './webhook-sender.js';

/** The project's rate card, for a sandbox started without one. */
const DEFAULT_RATE_CARD = fileURLToPath(new URL('../../../config/rate-card.json', import.meta.url));

export interface SandboxOptions {
  /** Time for windows, limits and webhook timestamps. */
  clock: Clock;
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  token: string;
  phoneNumberId: string;
  appSecret: string;
  /** Where status and inbound webhooks go; can be set later with `setWebhookUrl`. */
  webhookUrl?: string;
  wabaId?: string;
  displayPhoneNumber?: string;
  /** Messages per second for the phone number (130429 beyond); default 80, 0 turns it off. */
  mps?: number;
  /** Per-contact pair rate (131056 beyond); default one per 6 s after a burst of 10; false turns it off. */
  pairRate?: PairRate | false;
  /** Added before every answer: fixed, or uniformly between min and max. */
  latencyMs?: number | { min: number; max: number };
  /** Share of sends (0 to 1) answered with 131000 / HTTP 500. */
  failureRate?: number;
  /** Seed of the random numbers for latency, failures and statuses. */
  seed?: number;
  /** Free-form send outside the window: `error` answers 131047 (default), `failed-status` accepts it and sends a `failed` status. */
  outsideWindow?: 'error' | 'failed-status';
  /** The pricing its status webhooks report, by dated period; default: the project's config/rate-card.json. */
  rateCard?: RateCard;
  statuses?: Partial<StatusOptions>;
  /** Default: DEFAULT_TEMPLATES. */
  templates?: readonly ApprovedTemplate[];
  /** Oldest accepted messages are forgotten beyond this many; default 200,000. */
  maxStoredMessages?: number;
  logger?: Logger;
}

export interface InboundResult {
  id: string;
  /** Whether the worker answered the webhook with 2xx (false when no webhook URL is set). */
  delivered: boolean;
}

export interface Sandbox {
  /** `http://127.0.0.1:PORT`: use as WHATSAPP_API_BASE. */
  readonly url: string;
  readonly port: number;
  setWebhookUrl(url: string | undefined): void;
  /** A contact writes to the business: opens the window and delivers a `messages` webhook. */
  inbound(input: InboundInput): Promise<InboundResult>;
  setContact(input: ContactInput): void;
  /** Accepted messages, with the buttons a contact could tap (and the inbound body that taps each). */
  messages(filter?: { to?: string }): (AcceptedMessage & MessageButtons)[];
  /** Forgets windows, contacts, messages, limits and planned statuses. */
  reset(): void;
  /** Statuses planned but not yet posted. */
  readonly pendingStatuses: number;
  readonly webhookStats: { delivered: number; failed: number };
  stop(): Promise<void>;
}

/** Starts the WhatsApp Cloud API sandbox (see `whatsapp.md`); it runs until `stop()`. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const { clock } = options;
  const random = new SeededRandom(options.seed);
  const identity: BusinessIdentity = { wabaId: options.wabaId ?? '100000000000002', phoneNumberId: options.phoneNumberId, displayPhoneNumber: options.displayPhoneNumber ?? '15550000001' };
  const state = new SandboxState({ mps: options.mps ?? 80, pairRate: options.pairRate ?? { intervalMs: 6000, burst: 10 }, maxStoredMessages: options.maxStoredMessages ?? 200_000 });
  const sender = new WebhookSender({ appSecret: options.appSecret, url: options.webhookUrl, logger: options.logger });
  const statuses = new StatusWebhooks(sender, identity, clock, random, { ...DEFAULT_STATUS_OPTIONS, ...options.statuses });
  const ctx: SendContext = {
    clock, state, statuses, random,
    templates: templateMap(options.templates ?? DEFAULT_TEMPLATES),
    webhooksOn: () => sender.url !== undefined,
    failureRate: options.failureRate ?? 0,
    outsideWindow: options.outsideWindow ?? 'error',
    rateCard: options.rateCard ?? loadRateCard(DEFAULT_RATE_CARD),
  };
  const stopping = new AbortController();
  const bearer = `Bearer ${options.token}`;
  const latency = options.latencyMs;
  const maxStoredMessages = options.maxStoredMessages ?? 200_000;
  const sentButtons = new SentButtons(maxStoredMessages);
  let inboundCount = 0;

  const sandbox = {
    setWebhookUrl(url: string | undefined) {
      sender.url = url;
    },
    async inbound(input: InboundInput): Promise<InboundResult> {
      const parsed = inboundInput.parse(input);
      const from = waIdOf(parsed.from);
      const seconds = parsed.timestamp ?? Math.floor(clock.now().getTime() / 1000);
      state.recordInbound(from, parsed.timestamp === undefined ? clock.now().getTime() : seconds * 1000);
      inboundCount += 1;
      const id = `wamid.IN${inboundCount.toString(36).padStart(8, '0')}${state.nextWamid().slice(-8)}`;
      const payload = inboundWebhook(identity, { from, id, timestampSeconds: seconds, profileName: parsed.name ?? 'Sandbox Contact', content: inboundContent(parsed), replyTo: parsed.context });
      return { id, delivered: await sender.deliver(payload) };
    },
    setContact(input: ContactInput) {
      const parsed = contactInput.parse(input);
      const forced = parsed.forceError ? { code: parsed.forceError.code, remaining: parsed.forceError.times, via: parsed.forceError.via } : undefined;
      state.setContact(waIdOf(parsed.phone), { onWhatsApp: parsed.onWhatsApp, forcedError: forced, delayMs: parsed.delayMs });
    },
    messages: (filter?: { to?: string }) => state.messages(filter).map((m) => ({ ...m, ...sentButtons.of(m.wamid) })),
    reset() {
      statuses.clear();
      state.reset();
      sentButtons.clear();
    },
    get pendingStatuses() {
      return statuses.pending;
    },
    get webhookStats() {
      return { delivered: sender.delivered, failed: sender.failed };
    },
  };

  const app = Fastify({ logger: false, forceCloseConnections: true, keepAliveTimeout: 10_000 });
  const answer = (reply: FastifyReply, code: number, details?: string, title?: string) => {
    const error = metaError(code, 'sandbox', details, title);
    return reply.code(error.status).send(error.body);
  };
  app.setErrorHandler((err: { statusCode?: number; message: string }, _request, reply) => {
    if (err.statusCode !== undefined && err.statusCode < 500) return answer(reply, 100, err.message);
    options.logger?.error('sandbox request failed', { err: err.message });
    return answer(reply, 131000);
  });

  app.post<{ Params: { version: string; phoneNumberId: string } }>('/:version/:phoneNumberId/messages', async (request, reply) => {
    if (request.headers.authorization !== bearer) return answer(reply, 190);
    if (!/^v\d+\.\d+$/.test(request.params.version)) return answer(reply, 100, `unknown API version ${request.params.version}`);
    if (request.params.phoneNumberId !== options.phoneNumberId) {
      return answer(reply, 100, `Object with ID '${request.params.phoneNumberId}' does not exist`, 'Unsupported post request');
    }
    const outcome = handleSend(ctx, request.body);
    if (outcome.status === 200) {
      const accepted = (outcome.body as { contacts: { wa_id: string }[]; messages: { id: string }[] });
      const [contact, message] = [accepted.contacts[0], accepted.messages[0]];
      if (contact && message) sentButtons.record(request.body, contact.wa_id, message.id);
    }
    const wait = outcome.delayMs + (latency === undefined ? 0 : typeof latency === 'number' ? latency : random.between(latency.min, latency.max));
    if (wait > 0) {
      try {
        await sleep(wait, undefined, { signal: stopping.signal });
      } catch {
        return reply;
      }
    }
    return reply.code(outcome.status).send(outcome.body);
  });

  app.post('/_sandbox/inbound', async (request, reply) => {
    const tap = tapByIdAlone(request.body, sentButtons);
    if (tap.error !== undefined) return reply.code(400).send({ error: tap.error });
    const parsed = inboundInput.safeParse(tap.body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssue(parsed.error) });
    const note = unknownTapNote(parsed.data, sentButtons);
    return { ...(await sandbox.inbound(parsed.data)), ...(note === undefined ? {} : { note }) };
  });
  app.get<{ Querystring: { to?: string } }>('/_sandbox/messages', async (request) => ({ messages: sandbox.messages({ to: request.query.to }) }));
  app.post('/_sandbox/reset', async () => {
    sandbox.reset();
    return { ok: true };
  });
  app.post('/_sandbox/contacts', async (request, reply) => {
    const parsed = contactInput.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssue(parsed.error) });
    sandbox.setContact(parsed.data);
    return { ok: true, waId: waIdOf(parsed.data.phone) };
  });
  app.put('/_sandbox/webhook', async (request, reply) => {
    const parsed = webhookInput.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssue(parsed.error) });
    sandbox.setWebhookUrl(parsed.data.url ?? undefined);
    return { ok: true };
  });

  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const port = (app.server.address() as { port: number }).port;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${reachable}:${port}`;
  let stopped: Promise<void> | undefined;
  return Object.assign(sandbox, {
    url,
    port,
    stop(): Promise<void> {
      stopped ??= (async () => {
        stopping.abort();
        statuses.clear();
        sender.stop();
        await app.close();
      })();
      return stopped;
    },
  });
}

/** `"id" (title)` of each button, for messages that tell which ones there are. */
function namedButtons(buttons: readonly { id: string; title: string }[]): string {
  return [...new Map(buttons.map((b) => [b.id, `${JSON.stringify(b.id)} (${b.title})`])).values()].join(', ');
}

/**
 * A tap given by its button id alone (`{"from", "button": {"id"}}`): the title, and the message
 * it answers as `context`, are taken from the latest message to that contact with that button.
 * An id the sandbox never sent to the contact is refused with the ids it did send.
 */
function tapByIdAlone(body: unknown, sent: SentButtons): { body: unknown; error?: string } {
  if (typeof body !== 'object' || body === null) return { body };
  const { from, button, context } = body as { from?: unknown; button?: unknown; context?: unknown };
  if (typeof from !== 'string' || typeof button !== 'object' || button === null) return { body };
  const { id, title } = button as { id?: unknown; title?: unknown };
  if (typeof id !== 'string' || title !== undefined) return { body };
  const waId = waIdOf(from);
  const known = sent.buttonsTo(waId);
  const match = known.find((b) => b.id === id);
  if (!match) {
    return {
      body,
      error: known.length === 0
        ? `button: no message the sandbox sent to ${waId} has reply buttons (GET /_sandbox/messages?to=${waId} lists what it sent)`
        : `button.id: no message the sandbox sent to ${waId} has a button ${JSON.stringify(id)}; its buttons: ${namedButtons(known)}`,
    };
  }
  return { body: { ...body, button: { id, title: match.title }, ...(context === undefined ? { context: match.press.context } : {}) } };
}

/** A note for a tap on a button (given with its title) or quick reply the sandbox never sent to that contact. */
function unknownTapNote(input: { from: string; button?: { id: string } | undefined; payload?: string | undefined }, sent: SentButtons): string | undefined {
  const waId = waIdOf(input.from);
  if (input.button) {
    const known = sent.buttonsTo(waId);
    if (known.some((b) => b.id === input.button?.id)) return undefined;
    return `delivered, but no message the sandbox sent to ${waId} has a button ${JSON.stringify(input.button.id)}${known.length > 0 ? `; its buttons: ${namedButtons(known)}` : ''}`;
  }
  if (input.payload !== undefined) {
    const known = sent.quickRepliesTo(waId);
    if (known.some((q) => q.payload === input.payload)) return undefined;
    return `delivered, but no template the sandbox sent to ${waId} has a quick reply ${JSON.stringify(input.payload)}${known.length > 0 ? `; its quick replies: ${[...new Set(known.map((q) => JSON.stringify(q.payload)))].join(', ')}` : ''}`;
  }
  return undefined;
}
