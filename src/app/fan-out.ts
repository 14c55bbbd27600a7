import type { RenderedContent } from '../domain/broadcast-content.js';
import { backoff } from '../domain/backoff.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryDecision } from '../domain/delivery-policy.js';
import type { Broadcast, BroadcastRepository } from '../store/broadcast-repository.js';
import type { Contact, ContactRepository } from '../store/contact-repository.js';
import type { Delivery, DeliveryRepository } from '../store/delivery-repository.js';
import type { SendPacer } from '../store/send-pacer.js';
import type { SuppressionRepository } from '../store/suppression-repository.js';
import { isWhatsAppError, type AnyWhatsAppError } from '../whatsapp/cloud-api-errors.js';
import { MAX_INTERACTIVE_BODY, type OutboundMessage, type ReplyButton, type SendResult } from '../whatsapp/messages.js';
import type { ContactIdentities } from './contact-identities.js';
import { addressOf, costOf, decideFor, type PlanSettings } from './fan-out-plan.js';
import type { Logger } from './logger.js';

/** What the fan-out needs from WhatsApp (the Cloud API client implements it). */
export interface Messenger {
  send(message: OutboundMessage): Promise<SendResult>;
}

/** What the fan-out needs from the scheduler: run a batch job (one job per batch id) at a time. */
export interface BatchQueue {
  scheduleBatch(batchId: string, at: Date): Promise<void>;
}

export interface FanOutSettings extends PlanSettings {
  batchSize: number;
  /** Send slots reserved at once from the shared pace (a quarter second's worth is plenty). */
  slotsPerReservation: number;
  /** Requests in flight at once per batch. */
  concurrency: number;
  maxAttempts: number;
}

export interface FanOutDeps {
  broadcasts: BroadcastRepository;
  deliveries: DeliveryRepository;
  contacts: ContactRepository;
  suppressions: SuppressionRepository;
  /** Suppression under any identity of the person. */
  people: Pick<ContactIdentities, 'suppressedAmong'>;
  messenger: Messenger;
  pacer: SendPacer;
  queue: BatchQueue;
  clock: Clock;
  logger: Logger;
  settings: FanOutSettings;
  /** Called once per delivery outcome, for metrics. */
  onOutcome?(kind: string, outcome: string): void;
  /**
   * Reply buttons a session broadcast of the topic carries to this contact (the window keeper's
   * Keep / Stop, when the topic says so), and what to do once it went (so no separate nudge goes
   * in that window).
   */
  sessionButtons?: {
    for(topic: string, contact: Contact): readonly ReplyButton[] | undefined;
    sent(topic: string, contact: Contact): Promise<void>;
  };
}

const PAIR_RATE_DELAYS_MS = [1000, 4000, 16_000, 64_000];
/** Codes that stop a whole broadcast until a person acts (resume), or for good. */
const PAUSE_KINDS = new Set(['spam-rate', 'template-paused', 'auth', 'account-blocked']);
const FAIL_KINDS = new Set(['template-missing', 'template-disabled', 'template-parameters']);

type Sendable = Exclude<DeliveryDecision, { kind: 'skip' }>;
type Outcome = 'sent' | 'retry' | 'failed' | 'in-flight' | 'again' | 'by-number' | 'stop';

/**
 * Sends one broadcast batch: every subscriber of the topic in the batch's key range gets the
 * broadcast once, decided at send time, claimed before the request, paced across workers.
 */
export class FanOut {
  constructor(private readonly deps: FanOutDeps) {}

  /** Splits the broadcast's subscribers into key ranges and schedules one job per range. */
  async plan(broadcastId: string): Promise<number> {
    const { broadcasts, contacts, queue, clock, settings } = this.deps;
    const broadcast = await broadcasts.get(broadcastId);
    if (!broadcast || broadcast.status !== 'planning') return broadcast?.batches ?? 0;
    // One pass over the subscribers' keys, cut every batchSize keys. The last range is
    // open-ended: subscribers who join during the fan-out still get it.
    const ranges: { index: number; fromKey?: string; toKey?: string }[] = [];
    let after: string | undefined;
    let inRange = 0;
    for await (const { key } of contacts.streamTopic(broadcast.topic, { keysOnly: true })) {
      inRange += 1;
      if (inRange < settings.batchSize) continue;
      ranges.push({ index: ranges.length, ...(after === undefined ? {} : { fromKey: after }), toKey: key });
      after = key;
      inRange = 0;
    }
    ranges.push({ index: ranges.length, ...(after === undefined ? {} : { fromKey: after }) });
    const saved = await broadcasts.saveBatches(broadcastId, ranges, clock.now());
    for (const batch of saved) await queue.scheduleBatch(batch.id, clock.now());
    await broadcasts.setStatus(broadcastId, ['planning'], 'running', undefined, clock.now());
    return saved.length;
  }

  /**
   * Runs one batch. Returns in how many ms to run it again (retries due later, or 0 when
   * `signal` aborted it part-way for a shutdown), or undefined when it is done.
   */
  async runBatch(batchId: string, logger: Logger = this.deps.logger, signal?: AbortSignal): Promise<number | undefined> {
    const { broadcasts, deliveries, contacts, clock, settings } = this.deps;
    const batch = await broadcasts.batch(batchId);
    if (!batch) return undefined;
    let broadcast = await broadcasts.get(batch.broadcastId);
    if (!broadcast || broadcast.status !== 'running') return undefined;

    const members = await contacts.ofTopic(broadcast.topic, { ...(batch.fromKey === undefined ? {} : { afterKey: batch.fromKey }), ...(batch.toKey === undefined ? {} : { upToKey: batch.toKey }), keysOnly: true });
    const keys = members.map((m) => m.key);
    let stopped = false;
    for (let i = 0; i < keys.length && !stopped; i += settings.slotsPerReservation) {
      if (signal?.aborted) return 0; // shutting down: the rest is for the next worker
      const chunk = keys.slice(i, i + settings.slotsPerReservation);
      stopped = (await this.#sendChunk(broadcast, chunk, logger)) === 'stop';
      broadcast = (await broadcasts.get(broadcast.id)) ?? broadcast;
      if (broadcast.status !== 'running') stopped = true;
    }
    if (stopped) return undefined;

    const idOf = await deliveries.ids();
    const open = [...(await deliveries.find(keys.map((k) => idOf(broadcast.id, k)))).values()].filter((d) => d.state === 'retrying' && d.nextAttemptAt);
    if (open.length > 0) return Math.max(0, Math.min(...open.map((d) => (d.nextAttemptAt as Date).getTime())) - clock.now().getTime());
    const allDone = await broadcasts.completeBatch(batchId, broadcast.id, clock.now());
    if (allDone) await this.finishIfComplete(broadcast.id);
    return undefined;
  }

  /** Marks a running broadcast done once every batch is done and no delivery is open. */
  async finishIfComplete(broadcastId: string): Promise<boolean> {
    const { broadcasts, deliveries, clock } = this.deps;
    const broadcast = await broadcasts.get(broadcastId);
    if (!broadcast || broadcast.status !== 'running') return false;
    if ((await broadcasts.openBatches(broadcastId)).length > 0) return false;
    if ((await deliveries.totals(broadcastId)).open > 0) return false;
    return broadcasts.setStatus(broadcastId, ['running'], 'done', undefined, clock.now());
  }

  /** Decides, claims and sends a chunk of contacts in the send slots reserved for it. */
  async #sendChunk(broadcast: Broadcast, keys: readonly string[], logger: Logger): Promise<'stop' | 'ok'> {
    const { deliveries, contacts, people, clock, settings } = this.deps;
    const now = clock.now();
    const idOf = await deliveries.ids();
    // Read the contacts now, not at the start of the batch: a reply a moment ago opens the window.
    const read = await contacts.getMany(keys);
    // A contact merged into this one (the same person) counts: its delivery of the broadcast is this one's.
    const aliases = (contact: Contact): string[] => (contact.mergedFrom ?? []).map((k) => idOf(broadcast.id, k));
    const existing = await deliveries.find(read.flatMap((c) => [idOf(broadcast.id, c.key), ...aliases(c)]));
    const fresh = read.filter((c) => {
      if (aliases(c).some((id) => { const d = existing.get(id); return d !== undefined && d.state !== 'skipped'; })) return false;
      const d = existing.get(idOf(broadcast.id, c.key));
      return !d || (d.state === 'retrying' && d.nextAttemptAt !== undefined && d.nextAttemptAt <= now);
    });
    if (fresh.length === 0) return 'ok';
    const suppressed = await people.suppressedAmong(fresh);
    const planned: { contact: Contact; decision: Sendable }[] = [];
    for (const contact of fresh) {
      const refused = existing.get(idOf(broadcast.id, contact.key))?.sessionRefused === true;
      const decision = decideFor(contact, broadcast.topic, broadcast.content, suppressed.has(contact.key), now, settings, refused);
      if (decision.kind === 'skip') {
        await deliveries.skip(broadcast.id, contact.key, decision.reason, now);
        this.deps.onOutcome?.('none', `skipped:${decision.reason}`);
      } else {
        planned.push({ contact, decision });
      }
    }
    if (planned.length === 0) return 'ok';
    const sent: { key: string; template: boolean }[] = [];
    let stop = false;
    // Several requests in flight at once; each still waits for its own slot of the shared pace.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (!stop && next < planned.length) {
        const index = next++;
        const item = planned[index] as (typeof planned)[number];
        let decision: Sendable = item.decision;
        let known = existing.get(idOf(broadcast.id, item.contact.key));
        for (;;) {
          const outcome = await this.#sendOne(broadcast, item.contact, decision, known, logger);
          if (outcome === 'stop') stop = true;
          if (outcome === 'sent') sent.push({ key: item.contact.key, template: decision.kind === 'template' });
          if (outcome === 'by-number') {
            // 131062: not to a user id; the number is known now (a later message showed it), so it goes there.
            const latest = await contacts.get(item.contact.key);
            if (!latest?.phone && !latest?.waId) {
              await deliveries.markFailed(idOf(broadcast.id, item.contact.key), '131062', 'this message cannot go to a business-scoped user id, and the number is not known', clock.now());
              break;
            }
            item.contact = latest;
            known = await deliveries.get(idOf(broadcast.id, item.contact.key));
            continue;
          }
          if (outcome !== 'again') break;
          // The session was refused (131047): the template, once, in a slot of its own.
          const fallback = decideFor(item.contact, broadcast.topic, broadcast.content, false, clock.now(), settings, true);
          if (fallback.kind === 'skip') {
            await deliveries.markFailed(idOf(broadcast.id, item.contact.key), '131047', `outside the window, no template: ${fallback.reason}`, clock.now());
            break;
          }
          decision = fallback;
          known = await deliveries.get(idOf(broadcast.id, item.contact.key));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, planned.length) }, lane));
    await contacts.countSent(sent.filter((x) => !x.template).map((x) => x.key), false, clock.now());
    await contacts.countSent(sent.filter((x) => x.template).map((x) => x.key), true, clock.now());
    if (stop) return 'stop';
    return 'ok';
  }

  async #sendOne(broadcast: Broadcast, contact: Contact, decision: Sendable, known: Delivery | undefined, logger: Logger): Promise<Outcome> {
    const { deliveries, pacer, messenger, clock, settings } = this.deps;
    const id = await deliveries.idOf(broadcast.id, contact.key);
    const cost = costOf(decision, contact, clock.now(), settings.rateCard);
    // Wait first, claim right before the request: a worker killed in between leaves no claim
    // without a request behind it (such a delivery could only end as `unknown`, never sent).
    // A send goes out in its own slot: a lane that fell behind takes a new one (else it would
    // burst above the rate). Then claim, and send at once: a worker killed between the claim
    // and the request leaves a delivery that can only end `unknown`, so nothing may wait there.
    let slot = await pacer.next(settings.slotsPerReservation);
    await pacer.waitFor(slot);
    while (pacer.isLate(slot)) {
      slot = await pacer.next(settings.slotsPerReservation);
      await pacer.waitFor(slot);
    }
    if (!(await deliveries.claim(broadcast.id, contact.key, decision.kind, cost, clock.now(), known ? known.attempts : undefined))) return 'in-flight';
    const to = addressOf(contact) as string; // decideFor skips a contact without one
    try {
      const buttons = decision.kind === 'session' ? this.deps.sessionButtons?.for(broadcast.topic, contact) : undefined;
      const result = await messenger.send(messageFor(broadcast.content, decision, to, id, buttons));
      await deliveries.markSent(id, result.wamid, clock.now());
      if (buttons) await this.deps.sessionButtons?.sent(broadcast.topic, contact);
      this.deps.onOutcome?.(decision.kind, 'sent');
      return 'sent';
    } catch (err) {
      if (!isWhatsAppError(err)) throw err;
      const outcome = await this.#onError(broadcast, id, to, decision, err, (await deliveries.get(id))?.attempts ?? 1);
      this.deps.onOutcome?.(decision.kind, outcome === 'again' ? 'refused-session' : `${outcome}:${err.code}`);
      if (outcome !== 'retry' && outcome !== 'again') logger.warn('delivery not sent', { outcome, code: err.code, kind: err.kind, broadcast: broadcast.id });
      return outcome;
    }
  }

  /** What a WhatsApp error means for this delivery and for the broadcast. */
  async #onError(broadcast: Broadcast, id: string, to: string, decision: DeliveryDecision, err: AnyWhatsAppError, attempts: number): Promise<Outcome> {
    const { deliveries, broadcasts, pacer, clock, settings } = this.deps;
    const now = clock.now();
    const later = (ms: number) => new Date(now.getTime() + ms);
    const reason = `${err.kind} (${err.code})`;
    if (err.mayHaveBeenSent) return 'in-flight'; // never resend what may have arrived: the status webhook or the sweep decides
    if (err.kind === 'bsuid-unsupported' && !/^\d+$/.test(to)) {
      await deliveries.markRetry(id, now, reason, {}, now);
      return 'by-number';
    }
    if (err.kind === 'outside-window' && decision.kind === 'session') {
      await deliveries.markRetry(id, now, reason, { kind: 'template', sessionRefused: true }, now);
      return 'again';
    }
    if (PAUSE_KINDS.has(err.kind)) {
      await deliveries.markRetry(id, now, reason, {}, now);
      await broadcasts.setStatus(broadcast.id, ['running'], 'paused', `${reason}: resume with npm run publish -- --resume ${broadcast.id}`, now);
      return 'stop';
    }
    if (FAIL_KINDS.has(err.kind)) {
      await deliveries.markFailed(id, err.code, reason, now);
      await broadcasts.setStatus(broadcast.id, ['running'], 'failed', reason, now);
      return 'stop';
    }
    if (err.retry && attempts < settings.maxAttempts) {
      if (err.scope === 'broadcast') await pacer.slowDown(30_000, 2, err.retryAfterMs ?? 1000);
      const wait = err.kind === 'pair-rate'
        ? (PAIR_RATE_DELAYS_MS[attempts - 1] ?? 64_000)
        : (backoff(attempts, err, Math.random(), { baseMs: 1000, maxMs: 5 * 60_000, maxAttempts: settings.maxAttempts }) ?? 60_000);
      await deliveries.markRetry(id, later(wait), reason, {}, now);
      return 'retry';
    }
    await deliveries.markFailed(id, err.code, reason, now);
    return 'failed';
  }
}

/** A session broadcast with buttons is an interactive message, whose body has at most 1,024 characters; a longer one goes as text. */
function messageFor(content: RenderedContent, decision: Sendable, to: string, callbackData: string, buttons?: readonly ReplyButton[]): OutboundMessage {
  if (decision.kind === 'session') {
    if (buttons && buttons.length > 0 && content.sessionText.length <= MAX_INTERACTIVE_BODY) return { type: 'buttons', to, body: content.sessionText, buttons: [...buttons], callbackData };
    return { type: 'text', to, body: content.sessionText, callbackData };
  }
  const template = content.template;
  if (!template) throw new Error('a template decision without a template');
  return { type: 'template', to, name: template.name, language: template.language, bodyParams: template.bodyParams, quickReplyPayloads: template.quickReplyPayloads, callbackData };
}

export type { Delivery };
