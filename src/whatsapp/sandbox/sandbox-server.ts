import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from '../../domain/logger.js';
import { loadRateCard } from '../../../config/broadcasts.js';
import type { Clock } from '../../domain/clock.js';
import type { RateCard } from '../../domain/pricing.js';
import { DEFAULT_TEMPLATES, templateMap, type ApprovedTemplate } from './approved-templates.js';
import { contactInput, inboundContent, inboundInput, numberChangeInput, type ContactInput, type InboundInput, type NumberChangeInput } from './control-inputs.js';
import { registerControlRoutes, type NumberChangeResult } from './control-routes.js';
import { registerDemoDataSource } from './demo-data-source.js';
import { metaError, newTraceId, unsupportedRequest } from './error-catalog.js';
import { handleSend, type SendContext } from './send-handler.js';
import type { SandboxStore, SavedMessage } from './sandbox-store.js';
import { SandboxState, waIdOf, type AcceptedMessage, type KeptMessage } from './sandbox-state.js';
import { InboundIds, sandboxUsername, UserIds } from './scoped-ids.js';
import { SeededRandom } from './seeded-random.js';
import { SentButtons, type MessageButtons } from './sent-buttons.js';
import { StateJournal } from './state-journal.js';
import { DEFAULT_STATUS_OPTIONS, StatusWebhooks, type StatusOptions } from './status-webhooks.js';
import type { PairRate } from './rate-limits.js';
import { inboundWebhook, numberChangeWebhook, type BusinessIdentity } from './webhook-payloads.js';
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
  /** Free-form send outside the window: `failed-status` accepts it and sends a `failed` status with 131047, as the platform does (default); `error` answers 131047 at once. */
  outsideWindow?: 'error' | 'failed-status';
  /** How the webhooks depart from one tidy POST per status (batches, order, duplicates, delays); default: none of it. */
  quirks?: Partial<WebhookQuirks>;
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

/** Settings that make the webhooks as untidy as the platform's can be, to test a receiver's robustness. */
export interface WebhookQuirks {
  /** Statuses in one POST at most; default 1 (the platform's: one status per POST). Above 1, statuses falling due together share a POST. */
  statusBatch: number;
  /** Share (0 to 1) of the messages with both `delivered` and `read` whose `read` is posted first; default 0. */
  outOfOrder: number;
  /** Share (0 to 1) of webhooks posted twice (same bytes, same signature); default 0. */
  duplicates: number;
  /** Every POST waits a random 0 to this many ms before it goes, so POSTs overtake each other; default 0. */
  delayMs: number;
}

export const NO_QUIRKS: Readonly<WebhookQuirks> = Object.freeze({ statusBatch: 1, outOfOrder: 0, duplicates: 0, delayMs: 0 });

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
  /**
   * The person behind `phone` changes their number to `newPhone`: it takes effect at once, is
   * stored, and then a `system` message webhook tells the business (user_changed_number, or
   * user_changed_user_id for a person with a username). Refused when `phone` is not on WhatsApp or
   * is `newPhone`.
   */
  changeNumber(input: NumberChangeInput): Promise<NumberChangeResult | { ok: false; problem: string }>;
  /** Accepted messages, with the buttons a contact could tap (and the inbound body that taps each). */
  messages(filter?: { to?: string }): (AcceptedMessage & MessageButtons)[];
  /** Forgets windows, contacts, messages, limits, planned statuses and webhooks waiting for a retry (at once in memory; resolves once the store is cleared). */
  reset(): Promise<void>;
  /** Statuses planned but not yet posted. */
  readonly pendingStatuses: number;
  /**
   * POSTs answered with 2xx, retry attempts made, webhooks posted twice on purpose; webhooks given
   * up after the retry time, dropped (too many waiting), waiting for a retry, on their way (held
   * back by a delay, a duplicate still to go, or a POST under way).
   */
  readonly webhookStats: { delivered: number; retries: number; duplicated: number; failed: number; dropped: number; pending: number; inFlight: number };
  /** The business-scoped user id (BSUID) the sandbox gives this phone number. */
  userIdOf(phone: string): string;
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
  const quirks = { ...NO_QUIRKS, ...options.quirks };
  const userIds = new UserIds(identity.wabaId);
  const inboundIds = new InboundIds(identity.phoneNumberId);
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
    duplicateProbability: quirks.duplicates, maxDelayMs: quirks.delayMs, random: () => random.next(),
  });
  const statusOptions = { ...DEFAULT_STATUS_OPTIONS, maxBatch: quirks.statusBatch, outOfOrderProbability: quirks.outOfOrder, ...options.statuses };
  const statuses = new StatusWebhooks(sender, identity, clock, random, statusOptions, state, userIds);
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
    outsideWindow: options.outsideWindow ?? 'failed-status',
    rateCard: options.rateCard ?? loadRateCard(DEFAULT_RATE_CARD),
    userIds,
    inboundIds,
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
      const id = inboundIds.next(from);
      // A person with a username who has not shared their number is known by the BSUID alone.
      const username = state.contact(from)?.username;
      const payload = inboundWebhook(identity, {
        from: username === undefined ? from : undefined, fromUserId: userIds.of(from), username,
        id, timestampSeconds: seconds, profileName: parsed.name ?? 'Sandbox Contact', content: inboundContent(parsed), replyTo: parsed.context,
      });
      return { id, delivered: await sender.deliver(payload) };
    },
    async setContact(input: ContactInput) {
      const parsed = contactInput.parse(input);
      const waId = waIdOf(parsed.phone);
      const forced = parsed.forceError ? { code: parsed.forceError.code, remaining: parsed.forceError.times, via: parsed.forceError.via } : undefined;
      const username = parsed.username === true ? sandboxUsername(userIds.of(waId)) : parsed.username || undefined;
      state.setContact(waId, { onWhatsApp: parsed.onWhatsApp, forcedError: forced, delayMs: parsed.delayMs, ...(username === undefined ? {} : { username }) });
      await journal?.flush();
    },
    async changeNumber(input: NumberChangeInput) {
      const parsed = numberChangeInput.parse(input);
      const [from, to] = [waIdOf(parsed.phone), waIdOf(parsed.newPhone)];
      const change = state.changeNumber(from, to);
      if (!change.ok) return change;
      // Stored before the business hears of it, as an inbound message's window is.
      await journal?.flush();
      const [previousUserId, userId] = [userIds.of(from), userIds.of(to)];
      const id = inboundIds.next(from);
      const payload = numberChangeWebhook(identity, {
        id, timestampSeconds: Math.floor(clock.now().getTime() / 1000), profileName: parsed.name ?? 'Sandbox Contact', previousUserId, userId,
        numbers: change.username === undefined ? { previous: from, current: to } : undefined,
      });
      return { ok: true as const, id, delivered: await sender.deliver(payload), waId: to, userId, previous: { waId: from, userId: previousUserId } };
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
      const { delivered, retries, duplicated, failed, dropped, pending, inFlight } = sender;
      return { delivered, retries, duplicated, failed, dropped, pending, inFlight };
    },
    userIdOf: (phone: string) => userIds.of(waIdOf(phone)),
  };

  const app = Fastify({ logger: false, forceCloseConnections: true, keepAliveTimeout: 10_000 });
  // Every error is Graph-shaped, as clients of the platform expect (they read error.code and error.message).
  const answer = (reply: FastifyReply, code: number, details?: string, title?: string) => {
    const error = metaError(code, newTraceId(), details, title);
    return reply.code(error.status).send(error.body);
  };
  app.setErrorHandler((err: { statusCode?: number; message: string }, _request, reply) => {
    if (err.statusCode !== undefined && err.statusCode < 500) return answer(reply, 100, err.message, 'Invalid parameter');
    options.logger?.error('sandbox request failed', { err: err.message });
    return answer(reply, 131000);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const segments = path.split('/').filter((s) => s !== '');
    const objectId = /^v\d+\.\d+$/.test(segments[0] ?? '') ? segments[1] : segments[0];
    const error = unsupportedRequest(request.method, objectId ?? '');
    return reply.code(error.status).send(error.body);
  });

  app.post<{ Params: { version: string; phoneNumberId: string } }>('/:version/:phoneNumberId/messages', async (request, reply) => {
    if (request.headers.authorization !== bearer) return answer(reply, 190);
    if (!/^v\d+\.\d+$/.test(request.params.version)) return answer(reply, 100, `unknown API version ${request.params.version}`);
    if (request.params.phoneNumberId !== options.phoneNumberId) {
      return answer(reply, 100, `Object with ID '${request.params.phoneNumberId}' does not exist`, 'Unsupported post request');
    }
    const outcome = handleSend(ctx, request.body);
    if (outcome.accepted) sentButtons.record(request.body, outcome.accepted.to, outcome.accepted.wamid);
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

  registerControlRoutes(app, sandbox, sentButtons, (reply, message) => answer(reply, 100, message, message));
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
