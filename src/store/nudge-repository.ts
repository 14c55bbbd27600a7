import { ObjectId, type Collection, type Db } from 'mongodb';
import { WINDOW_MS } from '../domain/conversation.js';
import type { NudgeEstimate } from '../domain/keeper-policy.js';
import { insertUnique, isDuplicateKey, type IndexDeclaration } from './database.js';

/**
 * `claimed`: taken, the request not yet known to have left (a worker that dies here leaves it so:
 * the window gets no second nudge). `sent` / `failed`: the API's answer. `skipped`: decided not to
 * nudge in this window, with the reason. `carried`: a session broadcast in this window carried
 * the nudge's buttons, so no separate nudge goes.
 */
export type NudgeState = 'claimed' | 'sent' | 'failed' | 'skipped' | 'carried';

/** One record per contact and window: its unique (contact, window) is the once-per-window claim. */
export interface NudgeRecord {
  id: string;
  contactKey: string;
  /** The window's start (the contact's `lastInboundAt` it was decided on). */
  windowOf: Date;
  topic: string;
  state: NudgeState;
  decidedAt: Date;
  reason?: string;
  errorCode?: string;
  sentAt?: Date;
  wamid?: string;
  /** The contact's first message after the nudge went. */
  repliedAt?: Date;
  estimate?: NudgeEstimate;
}

interface NudgeDoc extends Omit<NudgeRecord, 'id'> {
  _id: ObjectId;
}

export const NUDGES = 'nudges';
/** Callback data of a nudge: `nd:` and its record's id (no phone number in it). */
export const NUDGE_CALLBACK_PREFIX = 'nd:';

export const nudgeIndexes: IndexDeclaration = {
  collection: NUDGES,
  indexes: [
    { name: 'nudges_contact_window', key: { contactKey: 1, windowOf: 1 }, unique: true },
    { name: 'nudges_decided', key: { decidedAt: 1 } },
  ],
};

function toRecord({ _id, ...rest }: NudgeDoc): NudgeRecord {
  return { id: _id.toHexString(), ...rest };
}

export function nudgeCallbackData(id: string): string {
  return `${NUDGE_CALLBACK_PREFIX}${id}`;
}

export class NudgeRepository {
  readonly #nudges: Collection<NudgeDoc>;

  constructor(db: Db) {
    this.#nudges = db.collection<NudgeDoc>(NUDGES);
  }

  /**
   * Takes the contact's window for a nudge, a skip or a carrying broadcast: the first of these per
   * window wins, whichever worker makes it. Returns the record's id, or undefined when the window
   * was taken before.
   */
  async claim(input: { contactKey: string; windowOf: Date; topic: string; state: 'claimed' | 'skipped' | 'carried'; reason?: string; estimate?: NudgeEstimate }, now: Date): Promise<string | undefined> {
    const _id = new ObjectId();
    const doc: NudgeDoc = {
      _id, contactKey: input.contactKey, windowOf: input.windowOf, topic: input.topic, state: input.state, decidedAt: now,
      ...(input.reason ? { reason: input.reason } : {}), ...(input.estimate ? { estimate: input.estimate } : {}),
    };
    const [won] = await insertUnique(this.#nudges, [doc]);
    return won ? _id.toHexString() : undefined;
  }

  /**
   * After a merge: the nudge records of contact `from` name contact `to`. Where both have a
   * record for the same window (the same last inbound), the one of `to` stays.
   */
  async repointContact(from: string, to: string): Promise<void> {
    for await (const doc of this.#nudges.find({ contactKey: from }, { projection: { _id: 1 } })) {
      try {
        await this.#nudges.updateOne({ _id: doc._id }, { $set: { contactKey: to } });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        await this.#nudges.deleteOne({ _id: doc._id });
      }
    }
  }

  async markSent(id: string, wamid: string, now: Date): Promise<void> {
    await this.#nudges.updateOne({ _id: ObjectId.createFromHexString(id), state: 'claimed' }, { $set: { state: 'sent', wamid, sentAt: now } });
  }

  /** The API refused it, or a `failed` status came: recorded, never turned into a template. */
  async markFailed(id: string, code: string, reason: string): Promise<void> {
    await this.#nudges.updateOne({ _id: ObjectId.createFromHexString(id), state: { $in: ['claimed', 'sent'] } }, { $set: { state: 'failed', errorCode: code, reason } });
  }

  /**
   * Marks the nudges these contacts answered: a message after the nudge went, within its window.
   * Returns how many nudges got their first reply.
   */
  async recordReplies(replies: readonly { contactKey: string; at: Date }[]): Promise<number> {
    if (replies.length === 0) return 0;
    const result = await this.#nudges.bulkWrite(replies.map(({ contactKey, at }) => ({
      // Only a nudge whose window was still open when they wrote: an answer to it.
      updateMany: { filter: { contactKey, state: 'sent', sentAt: { $lte: at }, windowOf: { $gt: new Date(at.getTime() - WINDOW_MS) }, repliedAt: { $exists: false } }, update: { $set: { repliedAt: at } } },
    })), { ordered: false });
    return result.modifiedCount;
  }

  /**
   * The latest window each contact already had a record for (a nudge, a skip or a carrying
   * broadcast), among windows from `since` on (older ones cannot be the contact's current window).
   */
  async latestWindows(contactKeys: readonly string[], since: Date): Promise<Map<string, { windowOf: Date; state: NudgeState }>> {
    if (contactKeys.length === 0) return new Map();
    const docs = await this.#nudges.find({ contactKey: { $in: [...contactKeys] }, windowOf: { $gte: since } }, { projection: { contactKey: 1, windowOf: 1, state: 1 } }).toArray();
    const latest = new Map<string, { windowOf: Date; state: NudgeState }>();
    for (const doc of docs) {
      const known = latest.get(doc.contactKey);
      if (!known || doc.windowOf > known.windowOf) latest.set(doc.contactKey, { windowOf: doc.windowOf, state: doc.state });
    }
    return latest;
  }

  /** Per contact: nudges sent since `since` and how many of them were answered. */
  async replyHistory(contactKeys: readonly string[], since: Date): Promise<Map<string, { sent: number; replied: number }>> {
    const history = new Map<string, { sent: number; replied: number }>();
    if (contactKeys.length === 0) return history;
    const docs = await this.#nudges.find(
      { contactKey: { $in: [...contactKeys] }, state: 'sent', sentAt: { $gte: since } },
      { projection: { contactKey: 1, repliedAt: 1 } },
    ).toArray();
    for (const doc of docs) {
      const entry = history.get(doc.contactKey) ?? { sent: 0, replied: 0 };
      entry.sent += 1;
      if (doc.repliedAt) entry.replied += 1;
      history.set(doc.contactKey, entry);
    }
    return history;
  }

  /** Contacts among these that were sent a nudge after the given time each (for pruning). */
  async nudgedSince(contacts: readonly { contactKey: string; since: Date }[]): Promise<Set<string>> {
    if (contacts.length === 0) return new Set();
    // Only nudges after the earliest of the times asked about can count.
    const earliest = new Date(Math.min(...contacts.map((c) => c.since.getTime())));
    const docs = await this.#nudges.find(
      { contactKey: { $in: contacts.map((c) => c.contactKey) }, state: 'sent', sentAt: { $gt: earliest } },
      { projection: { contactKey: 1, sentAt: 1 } },
    ).toArray();
    const since = new Map(contacts.map((c) => [c.contactKey, c.since.getTime()]));
    return new Set(docs.filter((d) => d.sentAt && d.sentAt.getTime() > (since.get(d.contactKey) ?? Infinity)).map((d) => d.contactKey));
  }

  async byContact(contactKey: string): Promise<NudgeRecord[]> {
    return (await this.#nudges.find({ contactKey }).sort({ windowOf: 1 }).toArray()).map(toRecord);
  }

  /** Deletes (or with `count` only counts) the nudge records of these contacts. */
  async eraseContacts(keys: readonly string[], mode: 'count' | 'delete'): Promise<number> {
    const filter = { contactKey: { $in: [...keys] } };
    return mode === 'count' ? this.#nudges.countDocuments(filter) : (await this.#nudges.deleteMany(filter)).deletedCount;
  }

  /** A topic's nudges sent since then: to whom, when, and when answered (the simulator's history). */
  async sentOfTopic(topic: string, since: Date): Promise<{ contactKey: string; sentAt: Date; repliedAt?: Date }[]> {
    const docs = await this.#nudges.find({ topic, state: 'sent', sentAt: { $gte: since } }, { projection: { contactKey: 1, sentAt: 1, repliedAt: 1 } }).toArray();
    return docs.map((d) => ({ contactKey: d.contactKey, sentAt: d.sentAt as Date, ...(d.repliedAt ? { repliedAt: d.repliedAt } : {}) }));
  }
}
