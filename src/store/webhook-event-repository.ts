import type { Collection, Db, Filter } from 'mongodb';
import type { InboundMessageEvent, RejectedPart, StatusEvent, UserPreferenceEvent } from '../whatsapp/webhook-parser.js';
import { insertUnique, isDuplicateKey, type IndexDeclaration } from './database.js';
import { Pseudonyms, type Pseudonymizer } from './pseudonyms.js';
import { TickBatcher } from './tick-batcher.js';
import { anyOf } from './regex.js';

export type InboundState = 'new' | 'processing' | 'done';

/** An inbound message as stored: the event, its contact and how far it has been handled. */
export interface StoredInbound {
  /** `inboundKey(event, pseudonym)`: the sender's pseudonym and the message id. */
  id: string;
  contactKey: string;
  event: InboundMessageEvent;
  state: InboundState;
  receivedAt: Date;
  attempts: number;
}

interface InboundDoc {
  /** `inboundKey(event, pseudonym)` */
  _id: string;
  contactKey: string;
  event: InboundMessageEvent;
  /** The message's own time, for handling each contact's messages in order. */
  timestamp: Date;
  state: InboundState;
  receivedAt: Date;
  claimedAt?: Date;
  attempts: number;
  processedAt?: Date;
  intent?: string;
  replyError?: string;
}

/** A stored status webhook: `key` is its `_id` (wamid:status). */
export interface StoredStatus {
  key: string;
  event: StatusEvent;
  receivedAt: Date;
}

/** The `_id` of a stored status: the same status of one message twice is one event. */
function statusKey(event: StatusEvent): string {
  return `${event.id}:${event.status}`;
}

/** A status webhook as stored, waiting to be applied to its delivery record. */
interface StatusDoc {
  /** wamid + status: the same status twice is one event. */
  _id: string;
  event: StatusEvent;
  receivedAt: Date;
  applied: boolean;
}

/**
 * A part of a webhook batch refused on its own (the rest was stored): where it was in the body,
 * what kind of error and why in words, never its content (no phone number, no text).
 */
interface RejectedDoc {
  /** The body's SHA-256 and the place: Meta's retry of the same batch records nothing twice. */
  _id: string;
  kind: RejectedPart['kind'];
  where: string;
  code: RejectedPart['code'];
  reason: string;
  receivedAt: Date;
}

interface PreferenceDoc {
  /** `preferenceEventId` with the sender's pseudonym. */
  _id: string;
  contactKey?: string;
  event: UserPreferenceEvent;
  receivedAt: Date;
}

export const INBOUND = 'inbound_messages';
/** One document per handling attempt of an inbound message: its unique `_id` is the claim. */
export const INBOUND_CLAIMS = 'inbound_claims';
export const STATUS_EVENTS = 'status_events';
/**
 * Status POSTs arriving within this long of each other share one insert. It adds at most this
 * to a POST's answer, and during a fan-out (one POST per status, a thousand a second) it puts
 * several more POSTs in each insert than those arriving in the same turn of the event loop.
 */
const STATUS_GATHER_MS = 3;
export const PREFERENCE_EVENTS = 'preference_events';
export const REJECTED_EVENTS = 'rejected_webhook_events';

export const webhookEventIndexes: IndexDeclaration[] = [
  { collection: INBOUND, indexes: [
    { name: 'inbound_state_timestamp', key: { state: 1, timestamp: 1 } },
    { name: 'inbound_received', key: { receivedAt: 1 } },
    { name: 'inbound_message_id', key: { 'event.id': 1 } },
  ] },
  { collection: STATUS_EVENTS, indexes: [
    { name: 'status_events_applied', key: { applied: 1, receivedAt: 1 } },
    { name: 'status_events_wamid', key: { 'event.id': 1 } },
    { name: 'status_events_callback', key: { 'event.callbackData': 1 } },
  ] },
  { collection: PREFERENCE_EVENTS, indexes: [{ name: 'preference_events_received', key: { receivedAt: 1 } }] },
  { collection: REJECTED_EVENTS, indexes: [{ name: 'rejected_events_received', key: { receivedAt: 1 } }] },
];


/**
 * The same preference change reported twice is one event (by the time it claimed, even when not
 * believed). This key names the sender in clear and is used in memory only; the stored `_id`
 * has the sender's pseudonym instead.
 */
export function preferenceEventId(event: UserPreferenceEvent, senderOf: Pseudonymizer = (sender) => sender): string {
  return `${senderOf(event.waId ?? event.userId ?? '')}:${event.category}:${event.value}:${(event.claimedTimestamp ?? event.timestamp).getTime()}`;
}

/**
 * An inbound message is one per sender and message id: two senders' messages that share an id
 * are two messages. The sender (a wa_id's digits, or `user:` and a user id) holds no `|`. With
 * the default `senderOf` the key names the sender in clear, for use in memory (`addInbound`
 * answers with it); the stored id has the sender's pseudonym instead, because it travels (a
 * reply's `biz_opaque_callback_data` is made from it; claims and log lines name it).
 */
export function inboundKey(event: Pick<InboundMessageEvent, 'id' | 'from' | 'userId'>, senderOf: Pseudonymizer = (sender) => sender): string {
  return `${senderOf(event.from || `user:${event.userId ?? ''}`)}|${event.id}`;
}

/**
 * Inserts documents, skipping those whose `_id` is already stored (a webhook seen before).
 * Returns the ids that were new. Any other write error is thrown.
 */
async function insertNew<T extends { _id: string }>(collection: Collection<T>, docs: T[]): Promise<Set<string>> {
  const stored = await insertUnique(collection, docs);
  return new Set(docs.filter((_, i) => stored[i]).map((d) => d._id));
}

/** Everything that names one contact in stored events: contact keys, numbers, wa_ids and user ids. */
export interface ContactNames {
  keys: readonly string[];
  phones: readonly string[];
  waIds: readonly string[];
  userIds: readonly string[];
}

/** What an erasure found (or removed) per collection. */
export type ErasureCounts = Record<string, number>;

export class WebhookEventRepository {
  readonly #inbound: Collection<InboundDoc>;
  readonly #statuses: Collection<StatusDoc>;
  readonly #preferences: Collection<PreferenceDoc>;
  readonly #rejected: Collection<RejectedDoc>;
  readonly #claims: Collection<{ _id: string; at: Date }>;
  readonly #pseudonyms: Pseudonyms;
  /**
   * The status POSTs of a fan-out arrive many at once: those stored within STATUS_GATHER_MS of
   * each other share one insert (see `addStatuses`).
   */
  readonly #statusAdds = new TickBatcher<{ events: readonly StatusEvent[]; now: Date }, StoredStatus[]>(async (calls) => {
    const docs = new Map<string, StatusDoc>();
    for (const { events, now } of calls) {
      for (const event of events) {
        const id = statusKey(event);
        if (!docs.has(id)) docs.set(id, { _id: id, event, receivedAt: now, applied: false });
      }
    }
    const fresh = await insertNew(this.#statuses, [...docs.values()]);
    return calls.map(({ events }) => events.flatMap((event) => {
      const key = statusKey(event);
      const doc = docs.get(key) as StatusDoc;
      if (doc.event !== event || !fresh.delete(key)) return []; // seen before, or in this write already
      return [{ key, event, receivedAt: doc.receivedAt }];
    }));
  }, STATUS_GATHER_MS);

  constructor(db: Db) {
    this.#pseudonyms = new Pseudonyms(db);
    this.#claims = db.collection<{ _id: string; at: Date }>(INBOUND_CLAIMS);
    this.#inbound = db.collection<InboundDoc>(INBOUND);
    this.#statuses = db.collection<StatusDoc>(STATUS_EVENTS);
    this.#preferences = db.collection<PreferenceDoc>(PREFERENCE_EVENTS);
    this.#rejected = db.collection<RejectedDoc>(REJECTED_EVENTS);
  }

  /** After a merge: the stored messages and preference events of contact `from` name contact `to`. */
  async repointContact(from: string, to: string): Promise<void> {
    await this.#inbound.updateMany({ contactKey: from }, { $set: { contactKey: to } });
    await this.#preferences.updateMany({ contactKey: from }, { $set: { contactKey: to } });
  }

  /** Stores inbound messages; returns the keys (`inboundKey`, in clear) of those not seen before. */
  async addInbound(items: readonly { contactKey: string; event: InboundMessageEvent }[], now: Date): Promise<Set<string>> {
    const pseudonymOf = await this.#pseudonyms.pseudonymizer();
    const unique = new Map(items.map((i) => [inboundKey(i.event, pseudonymOf), i]));
    const fresh = await insertNew(this.#inbound, [...unique].map(([id, { contactKey, event }]) => ({
      _id: id, contactKey, event, timestamp: event.timestamp, state: 'new' as const, receivedAt: now, attempts: 0,
    })));
    return new Set([...unique].filter(([id]) => fresh.has(id)).map(([, { event }]) => inboundKey(event)));
  }

  /**
   * Records the parts of a batch refused one by one; `digest` identifies the body, so a retried
   * batch records nothing twice. Returns how many were new.
   */
  async addRejected(parts: readonly RejectedPart[], digest: string, now: Date): Promise<number> {
    const docs = parts.map((p) => ({ _id: `${digest}:${p.where}`, kind: p.kind, where: p.where, code: p.code, reason: p.reason, receivedAt: now }));
    return (await insertNew(this.#rejected, [...new Map(docs.map((d) => [d._id, d])).values()])).size;
  }

  /**
   * Stores status events (deduplicated by wamid and status); returns the ones not seen before.
   * Calls made within STATUS_GATHER_MS of each other (the status POSTs of a fan-out arrive many
   * at once) share one insert; each call returns once that insert is acknowledged, and a status
   * that two of them carry counts as new for the first only.
   */
  addStatuses(events: readonly StatusEvent[], now: Date): Promise<StoredStatus[]> {
    if (events.length === 0) return Promise.resolve([]);
    return this.#statusAdds.call({ events, now });
  }

  /** Stores marketing preference events; returns the keys (`preferenceEventId`, in clear) of those not seen before. */
  async addPreferences(items: readonly { contactKey?: string; event: UserPreferenceEvent }[], now: Date): Promise<Set<string>> {
    const pseudonymOf = await this.#pseudonyms.pseudonymizer();
    const docs = new Map<string, PreferenceDoc>();
    for (const { contactKey, event } of items) {
      const id = preferenceEventId(event, pseudonymOf);
      docs.set(id, { _id: id, ...(contactKey ? { contactKey } : {}), event, receivedAt: now });
    }
    const fresh = await insertNew(this.#preferences, [...docs.values()]);
    return new Set([...docs.values()].filter((d) => fresh.has(d._id)).map((d) => preferenceEventId(d.event)));
  }

  /**
   * Unhandled inbound messages (or ones whose handler died more than `staleMs` ago), oldest
   * first: candidates for `claimInbound`. One query serves many claims.
   */
  async inboundCandidates(now: Date, staleMs: number, limit: number): Promise<{ id: string; attempts: number }[]> {
    const docs = await this.#inbound
      .find({ $or: [{ state: 'new' }, { state: 'processing', claimedAt: { $lt: new Date(now.getTime() - staleMs) } }] }, { projection: { _id: 1, attempts: 1 } })
      .sort({ timestamp: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => ({ id: d._id, attempts: d.attempts }));
  }

  /**
   * Claims an inbound message for handling attempt `attempts + 1`: a unique insert of
   * `<message id>#<attempt>`, so exactly one worker wins each attempt and the attempt stays
   * on record. Returns the message, or undefined when another worker has it.
   */
  async claimInbound(candidate: { id: string; attempts: number }, now: Date): Promise<StoredInbound | undefined> {
    const attempt = candidate.attempts + 1;
    try {
      await this.#claims.insertOne({ _id: `${candidate.id}#${attempt}`, at: now });
    } catch (err) {
      if (isDuplicateKey(err)) return undefined;
      throw err;
    }
    const doc = await this.#inbound.findOneAndUpdate({ _id: candidate.id }, { $set: { state: 'processing', claimedAt: now, attempts: attempt } }, { returnDocument: 'after' });
    if (!doc) return undefined;
    return { id: doc._id, contactKey: doc.contactKey, event: doc.event, state: 'processing', receivedAt: doc.receivedAt, attempts: attempt };
  }

  async completeInbound(id: string, result: { intent: string; replyError?: string }, now: Date): Promise<void> {
    // By `_id` alone: the claim made this worker the only one handling it.
    await this.#inbound.updateOne(
      { _id: id },
      { $set: { state: 'done', processedAt: now, intent: result.intent, ...(result.replyError ? { replyError: result.replyError } : {}) } },
    );
  }

  /** An inbound message by its key, or the first stored with this message id. */
  async inbound(id: string): Promise<{ state: InboundState; intent?: string; replyError?: string } | undefined> {
    const doc = (await this.#inbound.findOne({ _id: id })) ?? (await this.#inbound.findOne({ 'event.id': id }));
    return doc ? { state: doc.state, ...(doc.intent ? { intent: doc.intent } : {}), ...(doc.replyError ? { replyError: doc.replyError } : {}) } : undefined;
  }

  async countInbound(filter: { state?: InboundState } = {}): Promise<number> {
    return this.#inbound.countDocuments(filter);
  }

  /** Status events not yet applied to their delivery records (received before `before`), oldest first. */
  async unappliedStatuses(limit: number, before?: Date): Promise<StoredStatus[]> {
    const docs = await this.#statuses.find({ applied: false, ...(before ? { receivedAt: { $lt: before } } : {}) }).sort({ receivedAt: 1 }).limit(limit).toArray();
    return docs.map((d) => ({ key: d._id, event: d.event, receivedAt: d.receivedAt }));
  }

  async markStatusesApplied(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#statuses.updateMany({ _id: { $in: [...keys] } }, { $set: { applied: true } });
  }

  /** Deletes handled events older than `before` (a job, not a TTL index: it runs on the app's clock). */
  async deleteHandledBefore(before: Date): Promise<number> {
    const inbound = await this.#inbound.deleteMany({ state: 'done', receivedAt: { $lt: before } });
    const statuses = await this.#statuses.deleteMany({ applied: true, receivedAt: { $lt: before } });
    const preferences = await this.#preferences.deleteMany({ receivedAt: { $lt: before } });
    const rejected = await this.#rejected.deleteMany({ receivedAt: { $lt: before } });
    const claims = await this.#claims.deleteMany({ at: { $lt: before } });
    return inbound.deletedCount + statuses.deletedCount + preferences.deletedCount + rejected.deletedCount + claims.deletedCount;
  }

  /**
   * Deletes (or with `count` only counts) every stored event that names the contact: inbound
   * messages (by contact key, number, wa_id, user id, or the sender's pseudonym in the id) and
   * their claims, status webhooks (by recipient, or callback data holding their delivery or
   * reply id), preference events. Refused parts of batches hold no number and stay.
   */
  async eraseContact(names: ContactNames, mode: 'count' | 'delete'): Promise<ErasureCounts> {
    const pseudonymOf = await this.#pseudonyms.pseudonymizer();
    const senders = [...names.waIds, ...names.userIds.map((u) => `user:${u}`)].map(pseudonymOf);
    const keys = names.keys.map(pseudonymOf);
    const $in = (values: readonly string[]) => ({ $in: [...values] });
    const bySender = senders.length > 0 ? [{ _id: { $regex: anyOf(senders, '^', '\\|') } }] : [];
    const inbound = { $or: [{ contactKey: $in(names.keys) }, { 'event.from': $in(names.waIds) }, { 'event.phone': $in(names.phones) }, { 'event.userId': $in(names.userIds) }, ...bySender] };
    const statuses = { $or: [
      { 'event.recipientId': $in([...names.waIds, ...names.userIds]) }, { 'event.recipientPhone': $in(names.phones) }, { 'event.recipientUserId': $in(names.userIds) },
      ...(keys.length > 0 ? [{ 'event.callbackData': { $regex: anyOf(keys, '^dl:.*:', '$') } }] : []),
      ...(senders.length > 0 ? [{ 'event.callbackData': { $regex: anyOf(senders, '^reply:', '\\|') } }] : []),
    ] };
    const preferences = { $or: [{ contactKey: $in(names.keys) }, { 'event.waId': $in(names.waIds) }, { 'event.phone': $in(names.phones) }, { 'event.userId': $in(names.userIds) }, ...(senders.length > 0 ? [{ _id: { $regex: anyOf(senders, '^', ':') } }] : [])] };
    const claims = senders.length > 0 ? { _id: { $regex: anyOf(senders, '^', '\\|') } } : undefined;
    const run = async <T extends { _id: string }>(collection: Collection<T>, filter: Filter<T> | undefined): Promise<number> => {
      if (!filter) return 0;
      return mode === 'count' ? collection.countDocuments(filter) : (await collection.deleteMany(filter)).deletedCount;
    };
    return {
      [INBOUND]: await run(this.#inbound, inbound as Filter<InboundDoc>),
      [INBOUND_CLAIMS]: await run(this.#claims, claims as Filter<{ _id: string; at: Date }> | undefined),
      [STATUS_EVENTS]: await run(this.#statuses, statuses as Filter<StatusDoc>),
      [PREFERENCE_EVENTS]: await run(this.#preferences, preferences as Filter<PreferenceDoc>),
    };
  }

  /** Inbound messages timestamped in [since, until): only who and when, never the content (the simulator's history). */
  async inboundTimes(since: Date, until: Date): Promise<{ contactKey: string; at: Date }[]> {
    const docs = await this.#inbound.find(
      { state: { $in: ['new', 'processing', 'done'] }, timestamp: { $gte: since, $lt: until } },
      { projection: { contactKey: 1, timestamp: 1 } },
    ).toArray();
    return docs.map((d) => ({ contactKey: d.contactKey, at: d.timestamp }));
  }
}
