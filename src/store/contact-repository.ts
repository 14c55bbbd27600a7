import type { AnyBulkWriteOperation, Collection, Db, Filter } from 'mongodb';
import type { ImportedConsent } from '../domain/contact-import.js';
import { WINDOW_MS, type ConsentRecord, type SubscriptionState, type TopicSubscription } from '../domain/conversation.js';
import type { MergedFields } from '../domain/contact-merge.js';
import type { PruneReason } from '../domain/pruning.js';
import { bulkWrite, duplicateKeyIndexes, findByIds, insertUnique, isDuplicateKey, type IndexDeclaration } from './database.js';
import { identityName } from './identity-repository.js';

export type ContactStatus = 'active' | 'lapsed' | 'removed';
/** What changed a subscription; `prune`: the pruning pass ended it (the contact stopped replying). */
export type ChangeSource = 'keyword' | 'button' | 'import' | 'admin' | 'quick_reply' | 'prune';

export interface Subscription {
  state: SubscriptionState;
  changedAt: Date;
  source: ChangeSource;
  /** The inbound message that caused the change (when a message did). */
  messageId?: string;
  pendingSince?: Date;
  /** How consent was given (over WhatsApp, or collected elsewhere and imported): kept while subscribed, and as evidence afterwards. */
  consent?: (ConsentRecord | ImportedConsent) & { at: Date };
  /** Why pruning ended it (with `source: 'prune'`; `changedAt` says when). */
  reason?: PruneReason;
}

/** A contact as the rest of the app sees it. */
export interface Contact {
  /**
   * The contact's id, fixed for good: the identity it was first known by (its E.164 number, or
   * `user:<id>` when only Meta's business-scoped user id was known). Its identities (number,
   * user ids) point to it from `contact_identities`, whatever the contact is called later.
   */
  key: string;
  phone?: string;
  waId?: string;
  userId?: string;
  profileName?: string;
  language?: string;
  /** `lapsed`: pruning ended their last subscribed topic (`lapsedAt`); a message from them makes them `active` again. */
  status: ContactStatus;
  lapsedAt?: Date;
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
  /** Contacts merged into this one (they were the same person): their deliveries count as its own. */
  mergedFrom?: string[];
  /** Set on what is left of a contact merged into another: the key of that one. */
  mergedInto?: string;
  /** Its identities are linked in `contact_identities` (set by the migration and by new contacts). */
  identified?: boolean;
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
/** Documents per batch of a cursor that streams a topic's contacts. */
const STREAM_BATCH = 1000;

export const contactIndexes: IndexDeclaration = {
  collection: CONTACTS,
  indexes: [
    { name: 'contacts_user_id', key: { userId: 1 } },
    { name: 'contacts_status_last_inbound', key: { status: 1, lastInboundAt: 1 } },
    { name: 'contacts_merged_from', key: { mergedFrom: 1 } },
  ],
};

/**
 * Indexes per topic, created at start for the topics of TOPICS_FILE: subscriptions are a map
 * per topic, so a query on one topic's `subscriptions.<topic>.state` needs an index of its own.
 * - `contacts_<topic>_state_inbound`: by state and last inbound: pruning by age (subscribed,
 *   last inbound before the limit), the subscriber counts per state and open window.
 * - `contacts_<topic>_state_templates`: by state and paid templates in a row unanswered:
 *   pruning by templates.
 */
export function contactTopicIndexes(topics: readonly string[]): IndexDeclaration[] {
  return topics.map((topic) => ({
    collection: CONTACTS,
    indexes: [
      { name: `contacts_${topic}_state_inbound`, key: { [`subscriptions.${topic}.state`]: 1, lastInboundAt: 1 } },
      { name: `contacts_${topic}_state_templates`, key: { [`subscriptions.${topic}.state`]: 1, unansweredTemplates: 1 } },
    ],
  }));
}

/** A subscriber the pruning rule is to look at for one topic: what `decidePrune` needs, and the guard of the removal. */
export interface PruneCandidate {
  key: string;
  status: ContactStatus;
  lastInboundAt?: Date;
  sentSinceReply: number;
  unansweredTemplates: number;
  /** The subscription to the topic, as read. */
  subscription: Subscription;
}

/** What makes a subscriber a prune candidate; a limit left out is not checked. */
export interface PruneLimits {
  /** The age rule: last inbound (or none) and subscribed, both before this. */
  repliedBefore?: Date;
  /** The template rule: at least this many paid templates in a row unanswered. */
  unansweredTemplates?: number;
}

/** A topic's subscription records by state, for the subscriber gauge. */
export interface TopicCounts {
  /** Subscribed, their window open (an inbound message within 24 hours). */
  active_window_open: number;
  /** Subscribed, the window closed or never opened. */
  active_window_closed: number;
  /** Asked to subscribe, consent not given yet. */
  pending: number;
  /** Removed by pruning: they stopped replying. */
  lapsed: number;
  /** Unsubscribed themselves (Stop, No). */
  unsubscribed: number;
}

/** The contact has not written since it was read: last inbound unchanged, unanswered counters not reset. */
function unchangedSince(read: Pick<PruneCandidate, 'key' | 'lastInboundAt' | 'sentSinceReply' | 'unansweredTemplates'>): Filter<ContactDoc> {
  return {
    _id: read.key,
    lastInboundAt: read.lastInboundAt ?? { $exists: false },
    ...(read.sentSinceReply > 0 ? { sentSinceReply: { $gte: read.sentSinceReply } } : {}),
    ...(read.unansweredTemplates > 0 ? { unansweredTemplates: { $gte: read.unansweredTemplates } } : {}),
  };
}

/**
 * Which contacts an export takes; a field left out is not checked. `state` is the state of the
 * subscription to `topic`, or without one to any of `topics`; `since`: subscribed to (or left)
 * `topic` since then, or without a topic created since then.
 */
export interface ContactSelection {
  topic?: string;
  topics: readonly string[];
  status?: ContactStatus;
  state?: SubscriptionState;
  since?: Date;
}

function selectionFilter(s: ContactSelection): Filter<ContactDoc> {
  const filter: Filter<ContactDoc> = { mergedInto: { $exists: false } };
  if (s.status) filter.status = s.status;
  if (s.topic !== undefined) {
    const path = `subscriptions.${s.topic}`;
    Object.assign(filter, s.state ? { [`${path}.state`]: s.state } : { [`${path}.state`]: { $exists: true } });
    if (s.since) Object.assign(filter, { [`${path}.changedAt`]: { $gte: s.since } });
  } else {
    if (s.state) filter.$or = s.topics.map((t) => ({ [`subscriptions.${t}.state`]: s.state }));
    if (s.since) filter.createdAt = { $gte: s.since };
  }
  return filter;
}

/** A contact an import creates: no inbound message yet, so no window. */
export interface ImportedContact {
  key: string;
  phone?: string;
  userId?: string;
  language?: string;
  name?: string;
  subscription: Subscription;
}

/** An import's change to a known contact, guarded by what was read. */
export interface ImportUpdate {
  key: string;
  read: { status: ContactStatus; state?: SubscriptionState; changedAt?: Date };
  subscription: Subscription;
  /** Set only where the contact has none. */
  fill: { language?: string; profileName?: string };
}

function toContact(doc: ContactDoc): Contact {
  const { _id, updatedAt: _updatedAt, ...rest } = doc;
  return { key: _id, ...rest, subscriptions: rest.subscriptions ?? {} };
}

/** The key a new contact gets: its number, else its user id (see `identityName`). */
export const contactKey = identityName;

/**
 * Every name a contact's suppression may be kept under: its key, the keys of contacts merged
 * into it, its number and its user id (an opt-out under any of them blocks the contact).
 */
export function suppressionNames(contact: Pick<Contact, 'key' | 'mergedFrom' | 'phone' | 'userId'>): string[] {
  return [...new Set([contact.key, ...(contact.mergedFrom ?? []), ...(contact.phone ? [contact.phone] : []), ...(contact.userId ? [`user:${contact.userId}`] : [])])];
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

  /**
   * The contact a key leads to today: the contact itself, or for one merged into another, the
   * one it went into (followed to the end). Undefined when there is none.
   */
  async current(key: string): Promise<Contact | undefined> {
    let contact = await this.get(key);
    for (let hops = 0; contact?.mergedInto !== undefined && hops < 16; hops += 1) contact = await this.get(contact.mergedInto);
    return contact?.mergedInto === undefined ? contact : undefined;
  }

  /**
   * The contacts these identity names lead to without `contact_identities`: contacts stored
   * before identities existed (or by hand), whose identities are not linked yet: one whose key is
   * the name, or for `user:<id>` one that holds the user id. Each name maps to the key of the
   * contact it leads to (for a merged one, the one it went into). A contact whose identities are
   * linked is reached through them only: its key may be a number it no longer has.
   */
  async heads(names: readonly string[]): Promise<Map<string, string>> {
    if (names.length === 0) return new Map();
    const userIds = names.filter((n) => n.startsWith('user:')).map((n) => n.slice('user:'.length));
    const docs = await this.#contacts.find(
      { identified: { $exists: false }, $or: [{ _id: { $in: [...new Set(names)] } }, ...(userIds.length > 0 ? [{ userId: { $in: userIds } }] : [])] },
      { projection: { _id: 1, mergedInto: 1, userId: 1 } },
    ).toArray();
    const heads = new Map<string, string>();
    // A contact's own key first: it wins over one that merely holds the user id.
    for (const d of docs) if (d.userId !== undefined && !heads.has(`user:${d.userId}`)) heads.set(`user:${d.userId}`, d.mergedInto ?? d._id);
    for (const d of docs) heads.set(d._id, d.mergedInto ?? d._id);
    return heads;
  }

  /** Which of these keys some contact (or tombstone) has already. */
  async takenKeys(keys: readonly string[]): Promise<Set<string>> {
    return new Set((await findByIds(this.#contacts, keys, { _id: 1 })).map((d) => d._id));
  }

  /** A page of contacts whose identities are not linked yet (the migration), tombstones left out. */
  async unidentified(limit: number): Promise<Contact[]> {
    const docs = await this.#contacts.find({ identified: { $exists: false }, mergedInto: { $exists: false } }, { projection: { _id: 1, phone: 1, userId: 1, mergedFrom: 1 } }).limit(limit).toArray();
    return docs.map((d) => ({ ...toContact(d as ContactDoc) }));
  }

  /** Marks contacts whose identities are linked. */
  async markIdentified(keys: readonly string[], now: Date): Promise<void> {
    if (keys.length > 0) await this.#contacts.updateMany({ _id: { $in: [...keys] } }, { $set: { identified: true, updatedAt: now } });
  }

  /**
   * Turns a contact merged into `into` into a tombstone: its key, `mergedInto` and nothing
   * else that names or reaches the person (status removed, no topics, no window), so no job
   * picks it up. Made too when there is no contact under the key yet (only an identity was
   * linked to it): the ingest that linked it records its message there next, and must find the
   * tombstone instead of making a second live contact. Once only: false when it was a
   * tombstone already.
   */
  async tombstone(key: string, into: string, now: Date): Promise<boolean> {
    try {
      const result = await this.#contacts.replaceOne(
        { _id: key, mergedInto: { $exists: false } },
        { mergedInto: into, status: 'removed', subscriptions: {}, sentSinceReply: 0, unansweredTemplates: 0, createdAt: now, updatedAt: now },
        { upsert: true },
      );
      return result.modifiedCount + result.upsertedCount === 1;
    } catch (err) {
      if (isDuplicateKey(err)) return false; // a tombstone already
      throw err;
    }
  }

  /**
   * Writes a merge into the contact that stays (created when only the merged one existed),
   * once per merged contact: the dates only move forward, `mergedFrom` takes the merged key
   * and the keys merged into it before. False when it was written already.
   */
  async absorb(key: string, merged: string, fields: MergedFields<Subscription>, mergedFrom: readonly string[], now: Date): Promise<boolean> {
    const set: Record<string, unknown> = { status: fields.status, sentSinceReply: fields.sentSinceReply, unansweredTemplates: fields.unansweredTemplates, identified: true, updatedAt: now };
    for (const [topic, subscription] of Object.entries(fields.subscriptions)) set[`subscriptions.${topic}`] = subscription;
    for (const [field, value] of Object.entries(fields.fill)) set[field] = value;
    if (fields.lapsedAt) set.lapsedAt = fields.lapsedAt;
    if (fields.windowOpenedAt) set.windowOpenedAt = fields.windowOpenedAt;
    const max: Record<string, Date> = {};
    for (const field of ['lastInboundAt', 'conversationAt', 'lastHelpSentAt'] as const) {
      const value = fields[field];
      if (value) max[field] = value;
    }
    try {
      const result = await this.#contacts.updateOne(
        { _id: key, mergedFrom: { $ne: merged } },
        {
          $set: set,
          ...(Object.keys(max).length > 0 ? { $max: max } : {}),
          $min: { createdAt: fields.createdAt },
          $addToSet: { mergedFrom: { $each: [...new Set([merged, ...mergedFrom])] } },
          ...(fields.lapsedAt ? {} : { $unset: { lapsedAt: '' } }),
          ...(Object.keys(fields.subscriptions).length === 0 ? { $setOnInsert: { subscriptions: {} } } : {}),
        },
        { upsert: true },
      );
      return result.modifiedCount + result.upsertedCount > 0;
    } catch (err) {
      if (isDuplicateKey(err)) return false; // it exists and holds the merge already
      throw err;
    }
  }

  /**
   * Records inbound messages in one round trip: creates unknown contacts, moves `lastInboundAt`
   * forward only (`$max`: a late webhook for an older message never moves it back) and resets
   * the counters of unanswered messages. Safe to repeat.
   */
  async recordInbound(senders: readonly InboundSender[], now: Date): Promise<void> {
    if (senders.length === 0) return;
    const update = (s: InboundSender) => ({
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
    });
    const ops: AnyBulkWriteOperation<ContactDoc>[] = senders.map((s) => ({
      updateOne: {
        filter: { _id: s.key, mergedInto: { $exists: false } },
        update: { ...update(s), $setOnInsert: { status: 'active', subscriptions: {}, createdAt: now, identified: true } },
        upsert: true,
      },
    }));
    const keys = senders.map((s) => s.key);
    try {
      await bulkWrite(this.#contacts, ops);
    } catch (err) {
      // A contact merged into another since its key was found: its tombstone refuses the write
      // (the upsert's insert meets its key), which goes to the contact it went into instead.
      const refused = duplicateKeyIndexes(err);
      if (!refused) throw err;
      for (const index of refused) {
        const sender = senders[index] as InboundSender;
        const into = await this.current(sender.key);
        if (!into) continue;
        await this.#contacts.updateOne({ _id: into.key }, update(sender));
        keys.push(into.key);
      }
    }
    // Whoever writes has replied: a contact pruned from every topic is active again (removed stays removed).
    await this.#contacts.updateMany({ _id: { $in: keys }, status: 'lapsed' }, { $set: { status: 'active', updatedAt: now }, $unset: { lapsedAt: '' } });
  }

  /**
   * Applies the conversation's changes for one message in a single atomic update. False when the
   * contact was merged into another meanwhile (nothing written: apply them to that one).
   */
  async applyConversation(key: string, change: {
    subscriptions: Record<string, Subscription>;
    conversationAt: Date;
    windowOpenedAt?: Date;
    lastHelpSentAt?: Date;
    status?: ContactStatus;
    now: Date;
  }): Promise<boolean> {
    const set: Record<string, unknown> = { updatedAt: change.now };
    for (const [topic, subscription] of Object.entries(change.subscriptions)) set[`subscriptions.${topic}`] = subscription;
    if (change.windowOpenedAt) set.windowOpenedAt = change.windowOpenedAt;
    if (change.lastHelpSentAt) set.lastHelpSentAt = change.lastHelpSentAt;
    if (change.status) set.status = change.status;
    const result = await this.#contacts.updateOne({ _id: key, mergedInto: { $exists: false } }, { $set: set, $max: { conversationAt: change.conversationAt } });
    return result.matchedCount === 1;
  }

  /** Records Meta's marketing preference, keeping only the newest by its own timestamp. */
  async recordMarketingPreference(key: string, value: string, at: Date, now: Date): Promise<void> {
    await this.#contacts.updateOne(
      { _id: key, $or: [{ 'marketing.at': { $lt: at } }, { marketing: { $exists: false } }] },
      { $set: { marketing: { value, at }, updatedAt: now } },
    );
  }

  /** Contact `key` no longer has this number (it reaches someone else now): its `phone` and `waId` go, if they are that number. */
  async releaseNumber(key: string, phone: string, now: Date): Promise<void> {
    await this.#contacts.updateOne({ _id: key, phone }, { $set: { updatedAt: now }, $unset: { phone: '', waId: '' } });
  }

  /**
   * The person of contact `key` changed their number: `phone` and `waId` become the new number,
   * or are removed when it was not shared (the old one no longer reaches them); `userId` becomes
   * the new user id when one is given. The key stays. Safe to repeat; a tombstone is left alone.
   */
  async changeNumber(key: string, to: { phone?: string; waId?: string; userId?: string }, now: Date): Promise<void> {
    const number = to.phone ? { phone: to.phone, waId: to.waId ?? to.phone.replace(/^\+/, '') } : {};
    await this.#contacts.updateOne(
      { _id: key, mergedInto: { $exists: false } },
      { $set: { ...number, ...(to.userId ? { userId: to.userId } : {}), updatedAt: now }, ...(to.phone ? {} : { $unset: { phone: '', waId: '' } }) },
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

  /**
   * A topic's subscribers (and pending ones) in key order, streamed from one query, at most
   * STREAM_BATCH documents held at a time. Left to itself, MongoDB fills each batch after the
   * first up to 16 MB (mongo-java-server sends the whole result at once): tens of thousands of
   * contacts in memory together, which ran a publish to 100,000 out of a 160 MB heap.
   */
  async *streamTopic(topic: string, options: { keysOnly?: boolean } = {}): AsyncGenerator<Contact> {
    const cursor = this.#contacts.find({ [`subscriptions.${topic}.state`]: { $in: ['subscribed', 'pending'] } }, options.keysOnly ? { projection: { _id: 1 } } : {}).sort({ _id: 1 }).batchSize(STREAM_BATCH);
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

  /**
   * Contacts not removed whose window runs from within (from, to] (the window keeper's
   * candidates), in pages, oldest window first, on the `contacts_status_last_inbound` index.
   */
  async *windowsClosing(from: Date, to: Date, pageSize: number): AsyncGenerator<Contact[]> {
    const cursor = this.#contacts.find({ status: { $in: ['active', 'lapsed'] }, lastInboundAt: { $gt: from, $lte: to } }).sort({ lastInboundAt: 1 }).batchSize(pageSize);
    let page: Contact[] = [];
    for await (const doc of cursor) {
      page.push(toContact(doc));
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /**
   * A topic's subscribers past a pruning limit, in pages read from one cursor on the topic's
   * indexes (`contactTopicIndexes`): subscribed, and last inbound (or none) and subscription
   * older than `repliedBefore`, or `unansweredTemplates` reached. Removed contacts are left out.
   * Only candidates: `decidePrune` decides. A contact changed while the cursor runs may come twice.
   */
  async *pruneCandidates(topic: string, limits: PruneLimits, pageSize: number): AsyncGenerator<PruneCandidate[]> {
    const state = `subscriptions.${topic}.state`;
    const branches: Filter<ContactDoc>[] = [];
    if (limits.repliedBefore) {
      const before = { $lt: limits.repliedBefore };
      branches.push({ [state]: 'subscribed', lastInboundAt: before, [`subscriptions.${topic}.changedAt`]: before });
      branches.push({ [state]: 'subscribed', lastInboundAt: { $exists: false }, [`subscriptions.${topic}.changedAt`]: before });
    }
    if (limits.unansweredTemplates !== undefined) branches.push({ [state]: 'subscribed', unansweredTemplates: { $gte: limits.unansweredTemplates } });
    if (branches.length === 0) return;
    const projection = { status: 1, lastInboundAt: 1, sentSinceReply: 1, unansweredTemplates: 1, [`subscriptions.${topic}`]: 1 };
    const cursor = this.#contacts.find({ $or: branches, status: { $ne: 'removed' } }, { projection }).batchSize(pageSize);
    let page: PruneCandidate[] = [];
    for await (const doc of cursor) {
      const subscription = doc.subscriptions?.[topic];
      if (!subscription) continue;
      page.push({
        key: doc._id, status: doc.status, sentSinceReply: doc.sentSinceReply ?? 0, unansweredTemplates: doc.unansweredTemplates ?? 0, subscription,
        ...(doc.lastInboundAt ? { lastInboundAt: doc.lastInboundAt } : {}),
      });
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /**
   * Ends a topic's subscription by pruning, only while nothing changed since `read`: the topic
   * still subscribed since the same `changedAt`, and the contact has not written since (see
   * `unchangedSince`). Sets `unsubscribed`, source `prune`, the reason and `changedAt`; the
   * consent record stays as evidence. When no topic remains subscribed the contact becomes
   * `lapsed`. Returns whether this call ended it: a second call, or another worker's, finds
   * the guard false, so nobody is removed twice.
   */
  async prune(read: PruneCandidate, topic: string, reason: PruneReason, at: Date): Promise<boolean> {
    const path = `subscriptions.${topic}`;
    const after = await this.#contacts.findOneAndUpdate(
      { ...unchangedSince(read), [`${path}.state`]: 'subscribed', [`${path}.changedAt`]: read.subscription.changedAt },
      {
        $set: { [`${path}.state`]: 'unsubscribed', [`${path}.changedAt`]: at, [`${path}.source`]: 'prune', [`${path}.reason`]: reason, updatedAt: at },
        $unset: { [`${path}.messageId`]: '', [`${path}.pendingSince`]: '' },
      },
      { returnDocument: 'after', projection: { status: 1, subscriptions: 1 } },
    );
    if (!after) return false;
    const topics = Object.keys(after.subscriptions ?? {});
    if (after.status === 'active' && !topics.some((t) => after.subscriptions[t]?.state === 'subscribed')) {
      // Guarded again: a topic subscribed meanwhile (or a message) keeps the contact active.
      const noneSubscribed = Object.fromEntries(topics.map((t) => [`subscriptions.${t}.state`, { $ne: 'subscribed' }]));
      await this.#contacts.updateOne({ ...unchangedSince(read), ...noneSubscribed, status: 'active' }, { $set: { status: 'lapsed', lapsedAt: at, updatedAt: at } });
    }
    return true;
  }

  /** Contacts whose subscription to `topic` pruning ended (and who did not subscribe again). */
  async countPruned(topic: string): Promise<number> {
    return this.#contacts.countDocuments({ [`subscriptions.${topic}.state`]: 'unsubscribed', [`subscriptions.${topic}.source`]: 'prune' });
  }

  /** A topic's subscription records by state, counted on the topic's `_state_inbound` index. */
  async topicCounts(topic: string, now: Date): Promise<TopicCounts> {
    const state = `subscriptions.${topic}.state`;
    const count = (filter: Filter<ContactDoc>) => this.#contacts.countDocuments(filter);
    const [subscribed, windowOpen, pending, unsubscribed, pruned] = await Promise.all([
      count({ [state]: 'subscribed' }),
      count({ [state]: 'subscribed', lastInboundAt: { $gt: new Date(now.getTime() - WINDOW_MS) } }),
      count({ [state]: 'pending' }),
      count({ [state]: 'unsubscribed' }),
      count({ [state]: 'unsubscribed', [`subscriptions.${topic}.source`]: 'prune' }),
    ]);
    return { active_window_open: windowOpen, active_window_closed: subscribed - windowOpen, pending, lapsed: pruned, unsubscribed: unsubscribed - pruned };
  }

  /** The conversation's view of a contact's topics. */
  static topicsOf(contact: Contact | undefined): Record<string, TopicSubscription> {
    const topics: Record<string, TopicSubscription> = {};
    for (const [topic, s] of Object.entries(contact?.subscriptions ?? {})) {
      topics[topic] = s.pendingSince ? { state: s.state, pendingSince: s.pendingSince } : { state: s.state };
    }
    return topics;
  }

  /** The contacts an export takes, in key order, streamed from one cursor. */
  async *select(selection: ContactSelection, batchSize = 1000): AsyncGenerator<Contact> {
    for await (const doc of this.#contacts.find(selectionFilter(selection)).sort({ _id: 1 }).batchSize(batchSize)) yield toContact(doc);
  }

  async countSelected(selection: ContactSelection): Promise<number> {
    return this.#contacts.countDocuments(selectionFilter(selection));
  }

  /** Creates imported contacts (status active, counters at 0, no `lastInboundAt`); false where the key exists already. */
  async insertImported(topic: string, contacts: readonly ImportedContact[], now: Date): Promise<boolean[]> {
    return insertUnique(this.#contacts, contacts.map((c) => ({
      _id: c.key, status: 'active' as const, subscriptions: { [topic]: c.subscription }, sentSinceReply: 0, unansweredTemplates: 0, createdAt: now, updatedAt: now, identified: true,
      ...(c.phone ? { phone: c.phone, waId: c.phone.slice(1) } : {}), ...(c.userId ? { userId: c.userId } : {}),
      ...(c.language ? { language: c.language } : {}), ...(c.name ? { profileName: c.name } : {}),
    })));
  }

  /**
   * Subscribes known contacts to `topic` with imported consent in one bulk write, each guarded
   * by what was read (status, and the topic's state and `changedAt`); a lapsed contact becomes
   * active. Returns the keys that now hold the given subscription (by its consent time and
   * source); the others changed in between and need deciding again.
   */
  async subscribeImported(topic: string, updates: readonly ImportUpdate[], now: Date): Promise<Set<string>> {
    if (updates.length === 0) return new Set();
    const path = `subscriptions.${topic}`;
    const result = await this.#contacts.bulkWrite(updates.map((u) => ({
      updateOne: {
        filter: { _id: u.key, status: u.read.status, [`${path}.state`]: u.read.state ?? { $exists: false }, [`${path}.changedAt`]: u.read.changedAt ?? { $exists: false } },
        update: {
          $set: { [path]: u.subscription, status: u.read.status === 'lapsed' ? 'active' : u.read.status, updatedAt: now, ...(u.fill.language ? { language: u.fill.language } : {}), ...(u.fill.profileName ? { profileName: u.fill.profileName } : {}) },
          ...(u.read.status === 'lapsed' ? { $unset: { lapsedAt: '' } } : {}),
        },
      },
    })), { ordered: false });
    if (result.matchedCount === updates.length) return new Set(updates.map((u) => u.key));
    const stored = new Map((await findByIds(this.#contacts, updates.map((u) => u.key), { _id: 1, [path]: 1 })).map((d) => [d._id, d.subscriptions?.[topic]]));
    return new Set(updates.filter((u) => {
      const held = stored.get(u.key);
      return held?.state === 'subscribed' && held.source === 'import' && held.consent?.at.getTime() === u.subscription.consent?.at.getTime();
    }).map((u) => u.key));
  }

  /**
   * Every contact an erasure names: the number as key or field, the user id as key or field, the
   * contacts of `keys` (found through identities), and on both sides of their merges (the
   * contacts merged into them, what is left of those, and the one they went into).
   */
  async findForErasure(id: { phone?: string; userId?: string }, keys: readonly string[] = []): Promise<Contact[]> {
    const or: Filter<ContactDoc>[] = [];
    if (id.phone) or.push({ _id: id.phone }, { phone: id.phone });
    if (id.userId) or.push({ _id: `user:${id.userId}` }, { userId: id.userId });
    if (keys.length > 0) or.push({ _id: { $in: [...keys] } });
    if (or.length === 0) return [];
    const found = new Map((await this.#contacts.find({ $or: or }).toArray()).map((d) => [d._id, d]));
    const related = [...found.values()].flatMap((d) => [...(d.mergedFrom ?? []), ...(d.mergedInto ? [d.mergedInto] : [])]);
    const around = await this.#contacts.find({ $or: [{ _id: { $in: related } }, { mergedInto: { $in: [...found.keys()] } }] }).toArray();
    for (const doc of around) found.set(doc._id, doc);
    return [...found.values()].map(toContact);
  }

  async deleteKeys(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return (await this.#contacts.deleteMany({ _id: { $in: [...keys] } })).deletedCount;
  }

  /** The greatest contact key below `key`: what an erased key that bounds a batch is replaced with. */
  async keyBefore(key: string): Promise<string | undefined> {
    return (await this.#contacts.find({ _id: { $lt: key } }, { projection: { _id: 1 } }).sort({ _id: -1 }).limit(1).next())?._id;
  }
}
