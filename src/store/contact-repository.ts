import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import type { ConsentRecord, SubscriptionState, TopicSubscription } from '../domain/conversation.js';
import { bulkWrite, findByIds, type IndexDeclaration } from './database.js';

export type ContactStatus = 'active' | 'lapsed' | 'removed';
export type ChangeSource = 'keyword' | 'button' | 'import' | 'admin' | 'quick_reply';

export interface Subscription {
  state: SubscriptionState;
  changedAt: Date;
  source: ChangeSource;
  /** The inbound message that caused the change (when a message did). */
  messageId?: string;
  pendingSince?: Date;
  /** How consent was given: kept while subscribed, and as evidence afterwards. */
  consent?: ConsentRecord & { at: Date };
}

/** A contact as the rest of the app sees it. */
export interface Contact {
  /** The E.164 number, or `user:<id>` while only Meta's business-scoped user id is known. */
  key: string;
  phone?: string;
  waId?: string;
  userId?: string;
  profileName?: string;
  language?: string;
  status: ContactStatus;
  /** The latest inbound message's own timestamp: the customer service window runs from here. */
  lastInboundAt?: Date;
  /** The latest inbound message the conversation has handled, and when that window began. */
  conversationAt?: Date;
  windowOpenedAt?: Date;
  lastHelpSentAt?: Date;
  subscriptions: Record<string, Subscription>;
  /** Business messages since the contact last wrote, and paid templates they did not answer. */
  sentSinceReply: number;
  unansweredTemplates: number;
  marketing?: { value: string; at: Date };
  createdAt: Date;
}

interface ContactDoc extends Omit<Contact, 'key'> {
  _id: string;
  updatedAt: Date;
}

/** Who sent an inbound message, as far as the webhook says. */
export interface InboundSender {
  key: string;
  phone?: string;
  waId?: string;
  userId?: string;
  profileName?: string;
  timestamp: Date;
}

export const CONTACTS = 'contacts';

export const contactIndexes: IndexDeclaration = {
  collection: CONTACTS,
  indexes: [
    { name: 'contacts_user_id', key: { userId: 1 } },
    { name: 'contacts_status_last_inbound', key: { status: 1, lastInboundAt: 1 } },
  ],
};

function toContact(doc: ContactDoc): Contact {
  const { _id, updatedAt: _updatedAt, ...rest } = doc;
  return { key: _id, ...rest, subscriptions: rest.subscriptions ?? {} };
}

/** The contact key for a message: its number, else its user id. */
export function contactKey(phone: string | undefined, userId: string | undefined): string | undefined {
  if (phone) return phone;
  return userId ? `user:${userId}` : undefined;
}

export class ContactRepository {
  readonly #contacts: Collection<ContactDoc>;

  constructor(db: Db) {
    this.#contacts = db.collection<ContactDoc>(CONTACTS);
  }

  async get(key: string): Promise<Contact | undefined> {
    const doc = await this.#contacts.findOne({ _id: key });
    return doc ? toContact(doc) : undefined;
  }

  /** Keys of the contacts already known by these user ids (for messages that carry no number). */
  async keysByUserId(userIds: readonly string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const docs = await this.#contacts.find({ userId: { $in: [...userIds] } }, { projection: { _id: 1, userId: 1 } }).toArray();
    return new Map(docs.map((d) => [d.userId as string, d._id]));
  }

  /**
   * Records inbound messages in one round trip: creates unknown contacts, moves `lastInboundAt`
   * forward only (`$max`: a late webhook for an older message never moves it back) and resets
   * the counters of unanswered messages. Safe to repeat.
   */
  async recordInbound(senders: readonly InboundSender[], now: Date): Promise<void> {
    if (senders.length === 0) return;
    const ops: AnyBulkWriteOperation<ContactDoc>[] = senders.map((s) => ({
      updateOne: {
        filter: { _id: s.key },
        update: {
          $max: { lastInboundAt: s.timestamp },
          $set: {
            sentSinceReply: 0,
            unansweredTemplates: 0,
            updatedAt: now,
            ...(s.phone ? { phone: s.phone } : {}),
            ...(s.waId ? { waId: s.waId } : {}),
            ...(s.userId ? { userId: s.userId } : {}),
            ...(s.profileName ? { profileName: s.profileName } : {}),
          },
          $setOnInsert: { status: 'active', subscriptions: {}, createdAt: now },
        },
        upsert: true,
      },
    }));
    await bulkWrite(this.#contacts, ops);
  }

  /** Applies the conversation's changes for one message in a single atomic update. */
  async applyConversation(key: string, change: {
    subscriptions: Record<string, Subscription>;
    conversationAt: Date;
    windowOpenedAt?: Date;
    lastHelpSentAt?: Date;
    status?: ContactStatus;
    now: Date;
  }): Promise<void> {
    const set: Record<string, unknown> = { updatedAt: change.now };
    for (const [topic, subscription] of Object.entries(change.subscriptions)) set[`subscriptions.${topic}`] = subscription;
    if (change.windowOpenedAt) set.windowOpenedAt = change.windowOpenedAt;
    if (change.lastHelpSentAt) set.lastHelpSentAt = change.lastHelpSentAt;
    if (change.status) set.status = change.status;
    await this.#contacts.updateOne({ _id: key }, { $set: set, $max: { conversationAt: change.conversationAt } });
  }

  /** Records Meta's marketing preference, keeping only the newest by its own timestamp. */
  async recordMarketingPreference(key: string, value: string, at: Date, now: Date): Promise<void> {
    await this.#contacts.updateOne(
      { _id: key, $or: [{ 'marketing.at': { $lt: at } }, { marketing: { $exists: false } }] },
      { $set: { marketing: { value, at }, updatedAt: now } },
    );
  }

  /**
   * Contacts with a subscription record for `topic` (subscribed or pending), in key order,
   * with keys in (afterKey, upToKey]. The key order gives fan-out batches stable ranges.
   */
  async ofTopic(topic: string, range: { afterKey?: string; upToKey?: string; limit?: number; keysOnly?: boolean }): Promise<Contact[]> {
    const keyRange: Record<string, string> = {};
    if (range.afterKey !== undefined) keyRange.$gt = range.afterKey;
    if (range.upToKey !== undefined) keyRange.$lte = range.upToKey;
    const filter = {
      [`subscriptions.${topic}.state`]: { $in: ['subscribed', 'pending'] },
      ...(Object.keys(keyRange).length > 0 ? { _id: keyRange } : {}),
    };
    let cursor = this.#contacts.find(filter, range.keysOnly ? { projection: { _id: 1 } } : {}).sort({ _id: 1 });
    if (range.limit !== undefined) cursor = cursor.limit(range.limit);
    return (await cursor.toArray()).map(toContact);
  }

  /** A topic's subscribers (and pending ones) in key order, streamed from one query. */
  async *streamTopic(topic: string, options: { keysOnly?: boolean } = {}): AsyncGenerator<Contact> {
    const cursor = this.#contacts.find({ [`subscriptions.${topic}.state`]: { $in: ['subscribed', 'pending'] } }, options.keysOnly ? { projection: { _id: 1 } } : {}).sort({ _id: 1 });
    for await (const doc of cursor) yield toContact(doc);
  }

  async getMany(keys: readonly string[]): Promise<Contact[]> {
    if (keys.length === 0) return [];
    return (await findByIds(this.#contacts, keys)).sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)).map(toContact);
  }

  /** After broadcast messages went out: one more message since each contact's last reply. */
  async countSent(keys: readonly string[], template: boolean, now: Date): Promise<void> {
    if (keys.length === 0) return;
    await this.#contacts.updateMany({ _id: { $in: [...keys] } }, { $inc: { sentSinceReply: 1, unansweredTemplates: template ? 1 : 0 }, $set: { updatedAt: now } });
  }

  /** The conversation's view of a contact's topics. */
  static topicsOf(contact: Contact | undefined): Record<string, TopicSubscription> {
    const topics: Record<string, TopicSubscription> = {};
    for (const [topic, s] of Object.entries(contact?.subscriptions ?? {})) {
      topics[topic] = s.pendingSince ? { state: s.state, pendingSince: s.pendingSince } : { state: s.state };
    }
    return topics;
  }
}
