import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from '../../domain/logger.js';
import { loadRateCard } from '../../../config/broadcasts.js';
import type { Clock } from '../../domain/clock.js';
import type { RateCard } from '../../domain/pricing.js';
import { DEFAULT_TEMPLATES, templateMap, type ApprovedTemplate } from './approved-templates.js';
import { contactInput, describeIssue, inboundContent, inboundInput, webhookInput, type ContactInput, type InboundInput } from './control-inputs.js';
import { registerDemoDataSource } from './demo-data-source.js';
import { metaError } from './error-catalog.js';
import { handleSend, type SendContext } from './send-handler.js';
import { tapByIdAlone, unknownTapNote } from './button-taps.js';
import type { SandboxStore, SavedMessage } from './sandbox-store.js';
import { SandboxState, waIdOf, type AcceptedMessage, type KeptMessage } from './sandbox-state.js';
import { SeededRandom } from './seeded-random.js';
import { SentButtons, type MessageButtons } from './sent-buttons.js';
import { StateJournal } from './state-journal.js';
import { DEFAULT_STATUS_OPTIONS, StatusWebhooks, type StatusOptions } from './status-webhooks.js';
import type { PairRate } from './rate-limits.js';
import { inboundWebhook, type BusinessIdentity } from './webhook-payloads.js';
import { DEFAULT_WEBHOOK_RETRY, type WebhookRetryPolicy } from './webhook-retry.js';
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
  /** How webhooks not answered with 2xx are retried; default DEFAULT_WEBHOOK_RETRY (24 h, waits up to 1 min). */
  webhookRetry?: Partial<WebhookRetryPolicy>;
  /**
   * Where the state is kept across restarts: windows, contacts, messages with their statuses and
   * buttons, statuses still planned and webhooks waiting for a retry. Loaded at start; without
   * one the sandbox starts empty every time.
   */
  store?: SandboxStore;
  /** Changes are written to the store in batches this often; default 100 ms. */
  storeFlushDelayMs?: number;
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
  /** Where webhooks go; a URL also sends, right away, the webhooks waiting for a retry. */
  setWebhookUrl(url: string | undefined): void;
  /** A contact writes to the business: opens the window (stored first) and delivers a `messages` webhook. */
  inbound(input: InboundInput): Promise<InboundResult>;
  /** Takes effect at once; resolves once stored. */
  setContact(input: ContactInput): Promise<void>;
  /** Accepted messages, with the buttons a contact could tap (and the inbound body that taps each). */
  messages(filter?: { to?: string }): (AcceptedMessage & MessageButtons)[];
  /** Forgets windows, contacts, messages, limits, planned statuses and webhooks waiting for a retry (at once in memory; resolves once the store is cleared). */
  reset(): Promise<void>;
  /** Statuses planned but not yet posted. */
  readonly pendingStatuses: number;
  /** POSTs answered with 2xx, retry attempts made; webhooks given up after the retry time, dropped (too many waiting), waiting for a retry. */
  readonly webhookStats: { delivered: number; retries: number; failed: number; dropped: number; pending: number };
  /** Stops listening, cancels timers and retries, and writes what is left to the store. */
  stop(): Promise<void>;
}

/** Starts the WhatsApp Cloud API sandbox (see `whatsapp.md`); it runs until `stop()`. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const { clock } = options;
  const random = new SeededRandom(options.seed);
  const identity: BusinessIdentity = { wabaId: options.wabaId ?? '100000000000002', phoneNumberId: options.phoneNumberId, displayPhoneNumber: options.displayPhoneNumber ?? '15550000001' };
  const maxStoredMessages = options.maxStoredMessages ?? 200_000;
  const retry = { ...DEFAULT_WEBHOOK_RETRY, ...options.webhookRetry };
  const sentButtons = new SentButtons(maxStoredMessages);
  // The journal reads the state, the sender and the buttons when it writes, all built below.
  const journal: StateJournal | undefined = options.store && new StateJournal(options.store, {
    message: (wamid): SavedMessage | undefined => {
      const kept: KeptMessage | undefined = state.kept(wamid);
      return kept && { ...kept, planned: kept.planned && [...kept.planned], buttons: sentButtons.of(wamid) };
    },
    contact: (waId) => state.contact(waId),
    webhook: (id) => sender.saved(id),
  }, { flushDelayMs: options.storeFlushDelayMs, logger: options.logger });
  const state: SandboxState = new SandboxState({ mps: options.mps ?? 80, pairRate: options.pairRate ?? { intervalMs: 6000, burst: 10 }, maxStoredMessages, listener: journal });
  const sender = new WebhookSender({
    appSecret: options.appSecret, url: options.webhookUrl, clock, retry, logger: options.logger, onPendingChange: (id) => journal?.webhook(id),
  });
  const statuses = new StatusWebhooks(sender, identity, clock, random, { ...DEFAULT_STATUS_OPTIONS, ...options.statuses }, state);
  if (options.store) {
    const saved = await options.store.load({ messages: maxStoredMessages, webhooks: retry.maxPending });
    state.restore(saved);
    for (const { message, buttons } of saved.messages) if (buttons) sentButtons.remember(message.to, message.wamid, buttons);
    sender.restore(saved.webhooks);
  }
  // What was still to come when the sandbox last stopped goes out once there is a URL to send it to.
  let resumed = false;
  const resume = () => {
    if (resumed || sender.url === undefined) return;
    resumed = true;
    statuses.resume(state.planned());
    sender.retryAllNow();
  };
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

  const sandbox = {
    setWebhookUrl(url: string | undefined) {
      sender.url = url;
      if (url === undefined) return;
      if (resumed) sender.retryAllNow();
      else resume();
    },
    async inbound(input: InboundInput): Promise<InboundResult> {
      const parsed = inboundInput.parse(input);
      const from = waIdOf(parsed.from);
      const seconds = parsed.timestamp ?? Math.floor(clock.now().getTime() / 1000);
      const atMs = parsed.timestamp === undefined ? clock.now().getTime() : seconds * 1000;
      state.recordInbound(from, atMs);
      // The window is durable before the worker hears of it: a restart never forgets a window the worker relies on.
      await journal?.saveWindow(from, atMs);
      const id = state.nextInboundId();
      const payload = inboundWebhook(identity, { from, id, timestampSeconds: seconds, profileName: parsed.name ?? 'Sandbox Contact', content: inboundContent(parsed), replyTo: parsed.context });
      return { id, delivered: await sender.deliver(payload) };
    },
    async setContact(input: ContactInput) {
      const parsed = contactInput.parse(input);
      const forced = parsed.forceError ? { code: parsed.forceError.code, remaining: parsed.forceError.times, via: parsed.forceError.via } : undefined;
      state.setContact(waIdOf(parsed.phone), { onWhatsApp: parsed.onWhatsApp, forcedError: forced, delayMs: parsed.delayMs });
      await journal?.flush();
    },
    messages: (filter?: { to?: string }) => state.messages(filter).map((m) => ({ ...m, ...sentButtons.of(m.wamid) })),
    async reset() {
      statuses.clear();
      state.reset();
      sentButtons.clear();
      sender.clear();
      await journal?.clear();
    },
    get pendingStatuses() {
      return statuses.pending;
    },
    get webhookStats() {
      return { delivered: sender.delivered, retries: sender.retries, failed: sender.failed, dropped: sender.dropped, pending: sender.pending };
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
    await sandbox.reset();
    return { ok: true };
  });
  app.post('/_sandbox/contacts', async (request, reply) => {
    const parsed = contactInput.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssue(parsed.error) });
    await sandbox.setContact(parsed.data);
    return { ok: true, waId: waIdOf(parsed.data.phone) };
  });
  app.put('/_sandbox/webhook', async (request, reply) => {
    const parsed = webhookInput.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: describeIssue(parsed.error) });
    sandbox.setWebhookUrl(parsed.data.url ?? undefined);
    return { ok: true };
  });
  registerDemoDataSource(app, clock); // the daily run's demo source: GET /_sandbox/data/:topic

  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const port = (app.server.address() as { port: number }).port;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${reachable}:${port}`;
  resume();
  let stopped: Promise<void> | undefined;
  return Object.assign(sandbox, {
    url,
    port,
    stop(): Promise<void> {
      stopped ??= (async () => {
        stopping.abort();
        statuses.clear();
        const senderStopped = sender.stop();
        await app.close();
        await senderStopped;
        // Last: what the closing requests and the aborted webhooks changed is written too.
        await journal?.close();
      })();
      return stopped;
    },
  });
}
