import {
  consentButtonId, consentQuestionFor, fillPlaceholders, parseButtonId, placeholderValues,
  type ConversationConfig, type TopicConfig,
} from './conversation-config.js';
import { isStopMessage, matchesKeyword, matchSubscribeKeyword } from './keywords.js';
import { chooseLanguage, LANGUAGES, type Language } from './language.js';

/** How long a customer-service window stays open after the contact's latest inbound message. */
export const WINDOW_MS = 24 * 60 * 60 * 1000;

export type InboundKind = 'text' | 'button_reply' | 'quick_reply' | 'reaction' | 'other';

/** Whether an inbound message of this kind opens (or extends) the customer-service window. Reactions do not. */
export function opensWindow(kind: InboundKind): boolean {
  return kind !== 'reaction';
}

/** An inbound message as the conversation sees it (the webhook parser's events fit this shape). */
export interface ConversationMessage {
  /** The WhatsApp message id (`wamid...`): recorded as the message that gave consent. */
  readonly id: string;
  readonly kind: InboundKind;
  /** Text body; for a template quick-reply, the button's text. */
  readonly text?: string;
  /** Interactive reply-button id (`button_reply.id`). */
  readonly buttonId?: string;
  readonly buttonTitle?: string;
  /** Template quick-reply payload (`button.payload`). */
  readonly payload?: string;
  /** When the contact sent it (the webhook's `timestamp`): the window is measured from here. */
  readonly timestamp: Date;
}

export type SubscriptionState = 'pending' | 'subscribed' | 'unsubscribed';

export interface TopicSubscription {
  readonly state: SubscriptionState;
  readonly pendingSince?: Date;
}

export interface ConversationContact {
  /** E.164; decides the language when none is stored. */
  readonly phone?: string;
  readonly language?: string;
  readonly topics: Readonly<Record<string, TopicSubscription>>;
  /** The latest inbound message BEFORE this one (its webhook timestamp), if any. */
  readonly lastInboundAt?: Date;
  /** When the help text was last sent. */
  readonly lastHelpSentAt?: Date;
  /** Optional: when the current unbroken window began (first inbound after a gap of 24 h or more). */
  readonly windowOpenedAt?: Date;
}

export interface ConversationInput {
  readonly now: Date;
  readonly message: ConversationMessage;
  readonly contact: ConversationContact;
  readonly config: ConversationConfig;
}

export type ConsentSource = 'keyword' | 'button';

export interface ConsentRecord {
  readonly source: ConsentSource;
  /** The consent question as shown, in the contact's language. */
  readonly wording: string;
  readonly language: Language;
  /** The inbound message that gave consent. */
  readonly messageId: string;
}

export type ConversationAction =
  | { readonly type: 'mark-pending'; readonly topic: string; readonly at: Date; readonly source: ConsentSource; readonly messageId: string }
  | { readonly type: 'subscribe'; readonly topic: string; readonly at: Date; readonly consent: ConsentRecord }
  | { readonly type: 'decline'; readonly topic: string; readonly at: Date; readonly source: ConsentSource; readonly messageId: string }
  /** Unsubscribe from every topic and write the suppression record. */
  | { readonly type: 'unsubscribe-all'; readonly at: Date; readonly source: ConsentSource; readonly messageId: string }
  | { readonly type: 'record-help-sent'; readonly at: Date };

export interface ReplyButton {
  readonly id: string;
  readonly title: string;
}

export type Reply =
  | { readonly kind: 'text'; readonly body: string }
  | { readonly kind: 'buttons'; readonly body: string; readonly buttons: readonly ReplyButton[] };

export type Intent =
  | 'subscribe-request' | 'already-subscribed' | 'consent-yes' | 'consent-no' | 'stop' | 'keep'
  | 'help' | 'help-suppressed' | 'ignored';

export interface ConversationDecision {
  /** What the message was understood as: for logs and metrics. */
  readonly intent: Intent;
  readonly language: Language;
  /** State changes to apply, in order. */
  readonly actions: readonly ConversationAction[];
  /** Messages to send back, in order, inside the window this message opened. */
  readonly replies: readonly Reply[];
  /** The topic concerned, when there is one. */
  readonly topic?: string;
}

/**
 * Whether the help text was already sent in the window this message falls into, so it is
 * not sent again (the bot must never loop with another bot or an auto-responder).
 *
 * With T = this message's timestamp, L = the previous inbound, H = the last help:
 * - no L, or T - L >= 24 h: the previous window had closed; this message opens a new one: not sent yet.
 * - else (the window is unbroken up to T) help counts as sent in it when H >= L (help answered
 *   the previous inbound or later), or T - H < 24 h (no gap of 24 h fits between H and T),
 *   or H >= windowOpenedAt when the store tracks where the unbroken window began.
 */
export function helpAlreadySentInWindow(contact: ConversationContact, messageAt: Date): boolean {
  const help = contact.lastHelpSentAt?.getTime();
  const last = contact.lastInboundAt?.getTime();
  const at = messageAt.getTime();
  if (help === undefined || last === undefined) return false;
  if (at - last >= WINDOW_MS) return false;
  if (help >= last || at - help < WINDOW_MS) return true;
  const opened = contact.windowOpenedAt?.getTime();
  return opened !== undefined && help >= opened;
}

export function decideConversation(input: ConversationInput): ConversationDecision {
  const { message, contact, config, now } = input;
  const language = chooseLanguage(contact.language, contact.phone);
  const ctx: Ctx = { ...input, language };
  if (message.kind === 'reaction') return { intent: 'ignored', language, actions: [], replies: [] };

  const button = parseButtonId(message.kind === 'quick_reply' ? message.payload : message.buttonId, config);
  if (button) {
    switch (button.type) {
      case 'stop': return stop(ctx, 'button');
      case 'yes': return yes(ctx, topicById(config, button.topic), 'button');
      case 'no': return no(ctx, topicById(config, button.topic), 'button');
      case 'keep': return keep(ctx, button.topic);
    }
  }

  const text = message.text ?? message.buttonTitle;
  if (isStopMessage(text, config.stopKeywords)) return stop(ctx, 'keyword');
  const topicId = matchSubscribeKeyword(text, config.topics);
  if (topicId !== undefined) return subscribeRequest(ctx, topicById(config, topicId));

  // A typed "Ja" / "Yes" / "Nein" / "No" answers the question when exactly one is open
  // (typed only: a button's title must not answer a question its id does not name).
  const pending = message.kind === 'text' ? pendingTopic(contact) : undefined;
  if (pending) {
    const titles = (key: 'yesButton' | 'noButton') => LANGUAGES.map((l) => config.wording[l][key]);
    if (matchesKeyword(text, titles('yesButton'))) return yes(ctx, topicById(config, pending), 'keyword');
    if (matchesKeyword(text, titles('noButton'))) return no(ctx, topicById(config, pending), 'keyword');
  }
  return help(ctx, now);
}

interface Ctx extends ConversationInput {
  readonly language: Language;
}

function topicById(config: ConversationConfig, id: string): TopicConfig {
  const topic = config.topics.find((t) => t.id === id);
  if (!topic) throw new Error(`unknown topic ${id}`); // parseButtonId and the keyword match only return known ids
  return topic;
}

function wording(ctx: Ctx, key: keyof ConversationConfig['wording'][Language], topic?: TopicConfig): string {
  return fillPlaceholders(ctx.config.wording[ctx.language][key], placeholderValues(ctx.language, ctx.config, topic));
}

function stateOf(contact: ConversationContact, topic: string): SubscriptionState | undefined {
  return contact.topics[topic]?.state;
}

/** The topic whose consent question is open, when exactly one is. */
function pendingTopic(contact: ConversationContact): string | undefined {
  const pending = Object.entries(contact.topics).filter(([, sub]) => sub.state === 'pending');
  return pending.length === 1 ? pending[0]?.[0] : undefined;
}

function subscribeRequest(ctx: Ctx, topic: TopicConfig): ConversationDecision {
  const { language, now, message } = ctx;
  if (stateOf(ctx.contact, topic.id) === 'subscribed') {
    return { intent: 'already-subscribed', language, topic: topic.id, actions: [], replies: [{ kind: 'text', body: wording(ctx, 'alreadySubscribed', topic) }] };
  }
  const w = ctx.config.wording[language];
  return {
    intent: 'subscribe-request',
    language,
    topic: topic.id,
    actions: [{ type: 'mark-pending', topic: topic.id, at: now, source: 'keyword', messageId: message.id }],
    replies: [{
      kind: 'buttons',
      body: consentQuestionFor(topic, language, ctx.config),
      buttons: [
        { id: consentButtonId('yes', topic.id, ctx.config.buttons), title: w.yesButton },
        { id: consentButtonId('no', topic.id, ctx.config.buttons), title: w.noButton },
      ],
    }],
  };
}

function yes(ctx: Ctx, topic: TopicConfig, source: ConsentSource): ConversationDecision {
  const { language, now, message } = ctx;
  if (stateOf(ctx.contact, topic.id) === 'subscribed') {
    return { intent: 'already-subscribed', language, topic: topic.id, actions: [], replies: [{ kind: 'text', body: wording(ctx, 'alreadySubscribed', topic) }] };
  }
  const consent: ConsentRecord = { source, wording: consentQuestionFor(topic, language, ctx.config), language, messageId: message.id };
  return {
    intent: 'consent-yes',
    language,
    topic: topic.id,
    actions: [{ type: 'subscribe', topic: topic.id, at: now, consent }],
    replies: [{
      kind: 'buttons',
      body: wording(ctx, 'subscribed', topic),
      buttons: [{ id: ctx.config.buttons.stop, title: ctx.config.wording[language].stopButton }],
    }],
  };
}

function no(ctx: Ctx, topic: TopicConfig, source: ConsentSource): ConversationDecision {
  const { language, now, message } = ctx;
  return {
    intent: 'consent-no',
    language,
    topic: topic.id,
    actions: [{ type: 'decline', topic: topic.id, at: now, source, messageId: message.id }],
    replies: [{ kind: 'text', body: wording(ctx, 'declined', topic) }],
  };
}

function stop(ctx: Ctx, source: ConsentSource): ConversationDecision {
  return {
    intent: 'stop',
    language: ctx.language,
    actions: [{ type: 'unsubscribe-all', at: ctx.now, source, messageId: ctx.message.id }],
    replies: [{ kind: 'text', body: wording(ctx, 'stopped') }],
  };
}

function keep(ctx: Ctx, topicId: string | undefined): ConversationDecision {
  const subscribed = Object.entries(ctx.contact.topics)
    .filter(([id, sub]) => sub.state === 'subscribed' && (topicId === undefined || id === topicId))
    .map(([id]) => id);
  // "Keep" from someone no longer subscribed does not subscribe them again: they get the help text.
  if (subscribed.length === 0) return help(ctx, ctx.now);
  const topic = subscribed.length === 1 ? ctx.config.topics.find((t) => t.id === subscribed[0]) : undefined;
  return {
    intent: 'keep',
    language: ctx.language,
    ...(topic ? { topic: topic.id } : {}),
    actions: [],
    replies: [{ kind: 'text', body: wording(ctx, 'kept', topic) }],
  };
}

function help(ctx: Ctx, now: Date): ConversationDecision {
  if (helpAlreadySentInWindow(ctx.contact, ctx.message.timestamp)) {
    return { intent: 'help-suppressed', language: ctx.language, actions: [], replies: [] };
  }
  return {
    intent: 'help',
    language: ctx.language,
    actions: [{ type: 'record-help-sent', at: now }],
    replies: [{ kind: 'text', body: wording(ctx, 'help') }],
  };
}
