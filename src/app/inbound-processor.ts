import type { ConversationConfig } from '../domain/conversation-config.js';
import { decideConversation, opensWindow, WINDOW_MS, type ConversationAction, type Reply } from '../domain/conversation.js';
import type { Clock } from '../domain/clock.js';
import { ContactRepository, type Contact, type Subscription } from '../store/contact-repository.js';
import type { SuppressionRepository } from '../store/suppression-repository.js';
import type { StoredInbound, WebhookEventRepository } from '../store/webhook-event-repository.js';
import { BackgroundDrain } from './background-drain.js';
import { InFlight } from './in-flight.js';
import type { ContactIdentities } from './contact-identities.js';
import type { Logger } from './logger.js';

/** Where a reply goes: the wa_id (digits, no `+`) when the message showed one, else the business-scoped user id (`recipient`). */
export type ReplyRecipient = { waId: string } | { userId: string };

/** What the conversation needs from WhatsApp: send one reply. Implemented by the Cloud API adapter. */
export interface ReplySender {
  sendReply(to: ReplyRecipient, reply: Reply, callbackData: string): Promise<void>;
}

export interface InboundProcessorDeps {
  events: WebhookEventRepository;
  contacts: ContactRepository;
  suppressions: SuppressionRepository;
  /** The names a contact's opt-out is kept under (every identity of the person). */
  people: Pick<ContactIdentities, 'suppressionNamesOf'>;
  conversation: ConversationConfig;
  replies: ReplySender;
  clock: Clock;
  logger: Logger;
  /** A message claimed longer ago than this by a worker that died is handled again. */
  staleMs: number;
}

/** Replies are not sent when less than this is left of the window (they would be refused). */
const REPLY_MARGIN_MS = 60_000;

/**
 * Handles stored inbound messages one at a time, oldest first: decides the conversation,
 * applies the state changes in one atomic update per contact, then sends the replies.
 */
export class InboundProcessor {
  readonly #background: BackgroundDrain;
  /** Drains running now: the background one and the sweep job's. */
  readonly #draining = new InFlight();

  constructor(private readonly deps: InboundProcessorDeps) {
    this.#background = new BackgroundDrain((signal) => this.drain(signal), deps.logger, 'inbound processing');
  }

  /** Starts a drain in the background unless one is running (then it runs once more after). */
  kick(): void {
    this.#background.kick();
  }

  /**
   * Waits until no drain runs, the sweep job's included (tests): a message the job claimed
   * is not handled until its replies went, and the background drain skips it meanwhile.
   */
  async idle(): Promise<void> {
    await this.#background.idle();
    while (this.#draining.size > 0) {
      await this.#draining.settled();
      await this.#background.idle();
    }
  }

  /** Shutdown: finishes the message in hand and leaves the rest stored for the next start. */
  async stop(): Promise<void> {
    await this.#background.stop();
  }

  /** Handles every waiting message, or until `signal` aborts; returns how many. */
  drain(signal?: AbortSignal): Promise<number> {
    return this.#draining.track(this.#drainAll(signal));
  }

  async #drainAll(signal?: AbortSignal): Promise<number> {
    let handled = 0;
    for (;;) {
      if (signal?.aborted) return handled;
      const candidates = await this.deps.events.inboundCandidates(this.deps.clock.now(), this.deps.staleMs, 50);
      let claimed = 0;
      for (const candidate of candidates) {
        if (signal?.aborted) break;
        const item = await this.deps.events.claimInbound(candidate, this.deps.clock.now());
        if (!item) continue; // another worker has it
        await this.#handle(item);
        claimed += 1;
      }
      handled += claimed;
      if (claimed === 0) return handled; // nothing left, or all in other workers' hands
    }
  }

  async #handle(item: StoredInbound, round = 1): Promise<void> {
    const { contacts, suppressions, clock, logger } = this.deps;
    const { event } = item;
    const now = clock.now();
    // The contact the message was stored for may have been merged into another since.
    let contact = await contacts.current(item.contactKey);
    const key = contact?.key ?? item.contactKey;
    if (opensWindow(event.kind) && (!contact?.lastInboundAt || contact.lastInboundAt < event.timestamp)) {
      // The webhook stored the message but died before recording it on the contact (or recorded it on a contact merged meanwhile).
      await contacts.recordInbound([{ key, timestamp: event.timestamp, ...(event.phone ? { phone: event.phone } : {}), ...(event.from ? { waId: event.from } : {}), ...(event.userId ? { userId: event.userId } : {}) }], now);
      contact = await contacts.get(key);
    }

    const decision = decideConversation({
      now,
      message: event,
      config: this.deps.conversation,
      contact: {
        ...(contact?.phone ? { phone: contact.phone } : {}),
        ...(contact?.language ? { language: contact.language } : {}),
        topics: ContactRepository.topicsOf(contact),
        ...(contact?.conversationAt ? { lastInboundAt: contact.conversationAt } : {}),
        ...(contact?.lastHelpSentAt ? { lastHelpSentAt: contact.lastHelpSentAt } : {}),
        ...(contact?.windowOpenedAt ? { windowOpenedAt: contact.windowOpenedAt } : {}),
      },
    });

    const subscriptions = subscriptionChanges(contact, decision.actions);
    const helpSent = decision.actions.find((a) => a.type === 'record-help-sent');
    const newWindow = opensWindow(event.kind) && (!contact?.conversationAt || event.timestamp.getTime() - contact.conversationAt.getTime() >= WINDOW_MS);
    const applied = await contacts.applyConversation(key, {
      subscriptions,
      conversationAt: event.timestamp,
      ...(newWindow ? { windowOpenedAt: event.timestamp } : {}),
      ...(helpSent ? { lastHelpSentAt: helpSent.at } : {}),
      now,
    });
    // Merged into another contact between the read and the write: decide again on that one.
    if (!applied && contact && round < 3) return this.#handle(item, round + 1);
    // An opt-out (or new consent) holds for every identity of the person.
    const names = contact ? await this.deps.people.suppressionNamesOf(contact) : [key];
    for (const action of decision.actions) {
      if (action.type === 'unsubscribe-all') for (const name of names) await suppressions.suppress(name, 'opt-out', action.at);
      if (action.type === 'subscribe') await suppressions.liftMany(names);
    }

    const replyError = await this.#sendReplies(item, decision.replies, now);
    await this.deps.events.completeInbound(item.id, { intent: decision.intent, ...(replyError ? { replyError } : {}) }, clock.now());
    logger.info('inbound handled', { intent: decision.intent, topic: decision.topic, replies: decision.replies.length, replyError, attempt: item.attempts });
  }

  async #sendReplies(item: StoredInbound, replies: readonly Reply[], now: Date): Promise<string | undefined> {
    if (replies.length === 0) return undefined;
    const to: ReplyRecipient | undefined = item.event.from ? { waId: item.event.from } : item.event.userId ? { userId: item.event.userId } : undefined;
    if (!to) return 'neither a wa_id nor a user id to reply to';
    if (now.getTime() - item.event.timestamp.getTime() > WINDOW_MS - REPLY_MARGIN_MS) return 'window closed before the reply';
    for (const [index, reply] of replies.entries()) {
      try {
        await this.deps.replies.sendReply(to, reply, `reply:${item.id}:${index}`);
      } catch (err) {
        this.deps.logger.warn('reply failed', { err: (err as Error).message, code: (err as { code?: string }).code });
        return `reply failed: ${(err as Error).message}`;
      }
    }
    return undefined;
  }
}

/** The subscription records that the conversation's actions change. */
function subscriptionChanges(contact: Contact | undefined, actions: readonly ConversationAction[]): Record<string, Subscription> {
  const current = { ...(contact?.subscriptions ?? {}) };
  const changed: Record<string, Subscription> = {};
  const put = (topic: string, next: Subscription): void => {
    current[topic] = next;
    changed[topic] = next;
  };
  for (const action of actions) {
    switch (action.type) {
      case 'mark-pending':
        put(action.topic, { ...keepConsent(current[action.topic]), state: 'pending', changedAt: action.at, pendingSince: action.at, source: action.source, messageId: action.messageId });
        break;
      case 'subscribe':
        put(action.topic, { state: 'subscribed', changedAt: action.at, source: action.consent.source, messageId: action.consent.messageId, consent: { ...action.consent, at: action.at } });
        break;
      case 'decline':
        put(action.topic, { ...keepConsent(current[action.topic]), state: 'unsubscribed', changedAt: action.at, source: action.source, messageId: action.messageId });
        break;
      case 'unsubscribe-all':
        for (const [topic, subscription] of Object.entries(current)) {
          if (subscription.state !== 'unsubscribed') {
            put(topic, { ...keepConsent(subscription), state: 'unsubscribed', changedAt: action.at, source: action.source, messageId: action.messageId });
          }
        }
        break;
      case 'record-help-sent':
        break;
    }
  }
  return changed;
}

/** Earlier consent stays on record as evidence when the state changes. */
function keepConsent(subscription: Subscription | undefined): Pick<Subscription, 'consent'> {
  return subscription?.consent ? { consent: subscription.consent } : {};
}
