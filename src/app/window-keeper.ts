import type { TopicContent } from '../domain/broadcast-content.js';
import type { Clock } from '../domain/clock.js';
import { WINDOW_MS } from '../domain/conversation.js';
import type { ConversationConfig, TopicConfig } from '../domain/conversation-config.js';
import { decideNudge, KEEPER_HISTORY_MS, nudgeLookaheadMs, type KeeperPolicy, type NudgeDecision, type NudgeSkipReason } from '../domain/keeper-policy.js';
import { chooseLanguage } from '../domain/language.js';
import type { Logger } from '../domain/logger.js';
import { nudgeMessage } from '../domain/nudge-message.js';
import type { RateCard } from '../domain/pricing.js';
import type { QuietHours } from '../domain/quiet-hours.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import type { Contact, ContactRepository } from '../store/contact-repository.js';
import { nudgeCallbackData, type NudgeRepository } from '../store/nudge-repository.js';
import type { SendPacer } from '../store/send-pacer.js';
import { isWhatsAppError } from '../whatsapp/cloud-api-errors.js';
import type { ContactIdentities } from './contact-identities.js';
import { addressOf } from './fan-out-plan.js';
import type { Messenger } from './fan-out.js';

export interface KeeperSettings {
  policy: KeeperPolicy;
  nudgeBeforeCloseMs: number;
  safetyMarginMs: number;
  quietHours: QuietHours | undefined;
  timeZone: string;
  /** How often a pass runs: a pass looks far enough ahead to reach the next one. */
  intervalMs: number;
  /** Nudges in flight at once (each still waits for its slot of the shared pace). */
  concurrency: number;
  /** Send slots reserved at once from the shared pace, as the fan-out does. */
  slotsPerReservation: number;
}

export interface KeeperDeps {
  contacts: ContactRepository;
  nudges: NudgeRepository;
  broadcasts: BroadcastRepository;
  /** Suppression under any identity of the person. */
  people: Pick<ContactIdentities, 'suppressedAmong'>;
  messenger: Messenger;
  pacer: SendPacer;
  clock: Clock;
  logger: Logger;
  conversation: ConversationConfig;
  contents: ReadonlyMap<string, TopicContent>;
  rateCard: RateCard;
  settings: KeeperSettings;
  /** Told of each nudge sent, failed or skipped (metrics). */
  onNudge?: (outcome: 'sent' | 'failed' | 'skipped', reason: string) => void;
}

/** What one pass did. */
export interface KeeperPass {
  /** Contacts whose window closes within the pass's horizon. */
  candidates: number;
  sent: number;
  failed: number;
  /** Decisions not to nudge recorded in this pass (once per window), by reason. */
  skipped: Partial<Record<NudgeSkipReason, number>>;
  /** Nudges due later (a later pass sends them). */
  later: number;
}

/** Reasons that mean "not this window", recorded once per window; the others are not records. */
const RECORDED_SKIPS: ReadonlySet<NudgeSkipReason> = new Set(['window-closed', 'inside-safety-margin', 'quiet-hours', 'not-worth-it']);
const PAGE = 500;

/**
 * The window keeper: each pass finds the subscribers whose customer service window closes soon
 * and sends each one the "no news yet, still want updates?" nudge at its time (decided by
 * `decideNudge`), once per window across workers and crashes (a unique record per contact and
 * window is taken before the request), at the shared pace, never outside the window. A decision
 * not to nudge in a window is recorded once, with its reason.
 */
export class WindowKeeper {
  constructor(private readonly deps: KeeperDeps) {}

  async pass(signal: AbortSignal): Promise<KeeperPass> {
    const { settings, clock, contacts } = this.deps;
    const report: KeeperPass = { candidates: 0, sent: 0, failed: 0, skipped: {}, later: 0 };
    if (settings.policy === 'off') return report;
    const now = clock.now();
    const horizon = nudgeLookaheadMs(settings);
    // Windows still open (beyond the safety margin) that close within the horizon.
    const from = new Date(now.getTime() - WINDOW_MS + settings.safetyMarginMs);
    const to = new Date(now.getTime() - WINDOW_MS + horizon);
    const history = await this.#broadcastHistory(now);
    for await (const page of contacts.windowsClosing(from, to, PAGE)) {
      if (signal.aborted) break;
      report.candidates += page.length;
      await this.#handlePage(page, now, history, report, signal);
    }
    return report;
  }

  async #handlePage(page: readonly Contact[], now: Date, history: Map<string, Date[]>, report: KeeperPass, signal: AbortSignal): Promise<void> {
    const { nudges, people, settings } = this.deps;
    const keys = page.map((c) => c.key);
    const [suppressed, latest, replies] = await Promise.all([
      people.suppressedAmong(page),
      // The page's windows start at or after the earliest lastInboundAt in it.
      nudges.latestWindows(keys, new Date(Math.min(...page.map((c) => c.lastInboundAt?.getTime() ?? 0)))),
      settings.policy === 'worth-it' ? nudges.replyHistory(keys, new Date(now.getTime() - KEEPER_HISTORY_MS)) : Promise.resolve(new Map<string, { sent: number; replied: number }>()),
    ]);
    const due: { contact: Contact; topic: TopicConfig; decision: Extract<NudgeDecision, { kind: 'nudge' }> }[] = [];
    for (const contact of page) {
      const topic = this.#topicOf(contact);
      if (!topic) continue;
      const last = latest.get(contact.key);
      const decision = decideNudge({
        now,
        policy: settings.policy,
        subscription: contact.subscriptions[topic.id]?.state,
        contactStatus: contact.status,
        suppressed: suppressed.has(contact.key),
        lastInboundAt: contact.lastInboundAt,
        ...(last ? { lastNudge: { windowOf: last.windowOf, via: last.state === 'carried' ? 'broadcast' : 'nudge' } } : {}),
        nudgeBeforeCloseMs: settings.nudgeBeforeCloseMs,
        safetyMarginMs: settings.safetyMarginMs,
        quietHours: settings.quietHours,
        timeZone: settings.timeZone,
        economics: {
          rateCard: this.deps.rateCard,
          phone: contact.phone,
          templateCategory: this.deps.contents.get(topic.id)?.templates[0]?.category,
          broadcasts: { since: new Date(now.getTime() - KEEPER_HISTORY_MS), times: history.get(topic.id) ?? [] },
          ...(replies.has(contact.key) ? { nudgeReplies: replies.get(contact.key) } : {}),
        },
      });
      if (decision.kind === 'skip') {
        if (decision.windowOf && RECORDED_SKIPS.has(decision.reason)) {
          const recorded = await nudges.claim({ contactKey: contact.key, windowOf: decision.windowOf, topic: topic.id, state: 'skipped', reason: decision.reason, ...(decision.estimate ? { estimate: decision.estimate } : {}) }, now);
          if (recorded) {
            report.skipped[decision.reason] = (report.skipped[decision.reason] ?? 0) + 1;
            this.deps.onNudge?.('skipped', decision.reason);
          }
        }
        continue;
      }
      if (decision.at.getTime() > now.getTime()) report.later += 1;
      else due.push({ contact, topic, decision });
    }
    let next = 0;
    const lane = async () => {
      while (next < due.length && !signal.aborted) {
        const item = due[next++]!;
        const outcome = await this.#send(item.contact, item.topic, item.decision);
        if (outcome === 'sent') report.sent += 1;
        else if (outcome === 'failed') report.failed += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, due.length) }, lane));
  }

  /** Claims the window, waits for a slot of the shared pace, checks the time again, sends. */
  async #send(contact: Contact, topic: TopicConfig, decision: Extract<NudgeDecision, { kind: 'nudge' }>): Promise<'sent' | 'failed' | 'taken' | 'late'> {
    const { nudges, pacer, messenger, clock, settings, logger } = this.deps;
    let slot = await pacer.next(settings.slotsPerReservation);
    await pacer.waitFor(slot);
    while (pacer.isLate(slot)) {
      slot = await pacer.next(settings.slotsPerReservation);
      await pacer.waitFor(slot);
    }
    const now = clock.now();
    // The pace may have held it: a nudge that would now land inside the safety margin stays unsent.
    if (now.getTime() >= decision.closesAt.getTime() - settings.safetyMarginMs) {
      const recorded = await nudges.claim({ contactKey: contact.key, windowOf: decision.windowOf, topic: topic.id, state: 'skipped', reason: 'inside-safety-margin' }, now);
      if (recorded) this.deps.onNudge?.('skipped', 'inside-safety-margin');
      return 'late';
    }
    const id = await nudges.claim({ contactKey: contact.key, windowOf: decision.windowOf, topic: topic.id, state: 'claimed', ...(decision.estimate ? { estimate: decision.estimate } : {}) }, now);
    if (!id) return 'taken';
    const message = nudgeMessage(topic, chooseLanguage(contact.language, contact.phone), this.deps.conversation);
    const to = addressOf(contact);
    if (to === undefined) {
      await nudges.markFailed(id, 'no-address', 'neither a number nor a user id to send to');
      this.deps.onNudge?.('failed', 'no-address');
      return 'failed';
    }
    try {
      const result = await messenger.send({ type: 'buttons', to, body: message.body, buttons: message.buttons, callbackData: nudgeCallbackData(id) });
      await nudges.markSent(id, result.wamid, clock.now());
      this.deps.onNudge?.('sent', 'sent');
      return 'sent';
    } catch (err) {
      if (!isWhatsAppError(err)) throw err;
      // Recorded, never retried into another message and never turned into a template; one that
      // may have reached WhatsApp stays `claimed` (its status webhook tells).
      if (!err.mayHaveBeenSent) await nudges.markFailed(id, err.code, `${err.kind} (${err.code})`);
      this.deps.onNudge?.('failed', err.kind);
      logger.warn('nudge not sent', { code: err.code, kind: err.kind, topic: topic.id });
      return 'failed';
    }
  }

  /** The first topic (in configuration order) the contact is subscribed to. */
  #topicOf(contact: Contact): TopicConfig | undefined {
    return this.deps.conversation.topics.find((t) => contact.subscriptions[t.id]?.state === 'subscribed');
  }

  /** When each topic's broadcasts of the look-back period went out. */
  async #broadcastHistory(now: Date): Promise<Map<string, Date[]>> {
    const since = new Date(now.getTime() - KEEPER_HISTORY_MS);
    const times = await this.deps.broadcasts.createdSince(since);
    const byTopic = new Map<string, Date[]>();
    for (const { topic, createdAt } of times) byTopic.set(topic, [...(byTopic.get(topic) ?? []), createdAt]);
    return byTopic;
  }
}
