import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { RenderedContent } from '../domain/broadcast-content.js';
import { bulkWrite, isDuplicateKey, type IndexDeclaration } from './database.js';

export type BroadcastStatus = 'planning' | 'running' | 'paused' | 'done' | 'failed';

export interface PlanSummary {
  session: number;
  template: number;
  skipped: Record<string, number>;
  estimatedCost: number;
  currency: string;
}

export interface Broadcast {
  id: string;
  key: string;
  topic: string;
  content: RenderedContent;
  status: BroadcastStatus;
  statusReason?: string;
  createdAt: Date;
  /** The plan as estimated at publish time. */
  estimate: PlanSummary;
  batches: number;
  batchesDone: number;
}

interface BroadcastDoc extends Omit<Broadcast, 'id'> {
  _id: string;
  updatedAt: Date;
}

/** One key range of subscribers: (fromKey, toKey]; undefined ends are open. */
export interface BatchRange {
  id: string;
  broadcastId: string;
  index: number;
  fromKey?: string;
  toKey?: string;
}

interface BatchDoc extends Omit<BatchRange, 'id'> {
  _id: string;
  done: boolean;
}

export const BROADCASTS = 'broadcasts';
export const BATCHES = 'broadcast_batches';

export const broadcastIndexes: IndexDeclaration[] = [
  { collection: BROADCASTS, indexes: [{ name: 'broadcasts_key', key: { key: 1 }, unique: true }, { name: 'broadcasts_created', key: { createdAt: -1 } }] },
  { collection: BATCHES, indexes: [{ name: 'batches_broadcast', key: { broadcastId: 1, index: 1 } }] },
];

function toBroadcast({ _id, updatedAt: _u, ...rest }: BroadcastDoc): Broadcast {
  return { id: _id, ...rest };
}

export class BroadcastRepository {
  readonly #broadcasts: Collection<BroadcastDoc>;
  readonly #batches: Collection<BatchDoc>;

  constructor(db: Db) {
    this.#broadcasts = db.collection<BroadcastDoc>(BROADCASTS);
    this.#batches = db.collection<BatchDoc>(BATCHES);
  }

  /**
   * Creates the broadcast unless one with the same idempotency key exists; the unique index
   * decides, so two publishers racing get the same broadcast. Returns it and whether it is new.
   */
  async create(input: Omit<Broadcast, 'id' | 'status' | 'batches' | 'batchesDone'>, now: Date): Promise<{ broadcast: Broadcast; created: boolean }> {
    const doc: BroadcastDoc = { _id: `b${now.getTime().toString(36)}${randomBytes(3).toString('hex')}`, ...input, status: 'planning', batches: 0, batchesDone: 0, updatedAt: now };
    try {
      await this.#broadcasts.insertOne(doc);
      return { broadcast: toBroadcast(doc), created: true };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.#broadcasts.findOne({ key: input.key });
      if (!existing) throw err;
      return { broadcast: toBroadcast(existing), created: false };
    }
  }

  /** The id of every broadcast (a merge moves a contact's delivery of each). */
  async allIds(): Promise<string[]> {
    return (await this.#broadcasts.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id);
  }

  async get(id: string): Promise<Broadcast | undefined> {
    const doc = await this.#broadcasts.findOne({ _id: id });
    return doc ? toBroadcast(doc) : undefined;
  }

  async recent(limit: number): Promise<Broadcast[]> {
    return (await this.#broadcasts.find({}).sort({ createdAt: -1 }).limit(limit).toArray()).map(toBroadcast);
  }

  /** Moves the status, but only from one of `from` (so a paused broadcast is not resumed by accident). */
  async setStatus(id: string, from: readonly BroadcastStatus[], to: BroadcastStatus, reason: string | undefined, now: Date): Promise<boolean> {
    const result = await this.#broadcasts.updateOne(
      { _id: id, status: { $in: [...from] } },
      reason === undefined ? { $set: { status: to, updatedAt: now }, $unset: { statusReason: '' } } : { $set: { status: to, statusReason: reason, updatedAt: now } },
    );
    return result.modifiedCount === 1;
  }

  /** Stores the batches of a plan (idempotent: the batch id is broadcast + index). */
  async saveBatches(broadcastId: string, ranges: readonly Omit<BatchRange, 'id' | 'broadcastId'>[], now: Date): Promise<BatchRange[]> {
    const docs: BatchDoc[] = ranges.map((r) => ({ _id: `${broadcastId}:${r.index}`, broadcastId, done: false, ...r }));
    if (docs.length > 0) {
      await bulkWrite(this.#batches, docs.map((d) => ({ updateOne: { filter: { _id: d._id }, update: { $setOnInsert: d }, upsert: true } })));
    }
    await this.#broadcasts.updateOne({ _id: broadcastId }, { $set: { batches: docs.length, updatedAt: now } });
    return docs.map(({ _id, done: _d, ...r }) => ({ id: _id, ...r }));
  }

  async batch(id: string): Promise<BatchRange | undefined> {
    const doc = await this.#batches.findOne({ _id: id });
    if (!doc) return undefined;
    const { _id, done: _d, ...rest } = doc;
    return { id: _id, ...rest };
  }

  /**
   * Marks a batch done; returns whether every batch of the broadcast is now done. Counted from
   * the batch documents, not kept as a counter: the same batch may finish on two workers.
   */
  async completeBatch(batchId: string, broadcastId: string, now: Date): Promise<boolean> {
    await this.#batches.updateOne({ _id: batchId }, { $set: { done: true } });
    return (await this.#refreshProgress(broadcastId, now)) === 0;
  }

  /** Recounts the batches done; returns how many are open. */
  async #refreshProgress(broadcastId: string, now: Date): Promise<number> {
    const open = await this.#batches.countDocuments({ broadcastId, done: false });
    const total = await this.#batches.countDocuments({ broadcastId });
    await this.#broadcasts.updateOne({ _id: broadcastId }, { $set: { batchesDone: total - open, updatedAt: now } });
    return open;
  }

  /** The batch whose key range holds `contactKey`. */
  async batchFor(broadcastId: string, contactKey: string): Promise<BatchRange | undefined> {
    const doc = await this.#batches.findOne({
      broadcastId,
      $and: [
        { $or: [{ fromKey: { $exists: false } }, { fromKey: { $lt: contactKey } }] },
        { $or: [{ toKey: { $exists: false } }, { toKey: { $gte: contactKey } }] },
      ],
    });
    if (!doc) return undefined;
    const { _id, done: _d, ...rest } = doc;
    return { id: _id, ...rest };
  }

  /** Batches of a broadcast that are not done. */
  async openBatches(broadcastId: string): Promise<string[]> {
    return (await this.#batches.find({ broadcastId, done: false }, { projection: { _id: 1 } }).toArray()).map((d) => d._id);
  }

  async byStatus(status: BroadcastStatus): Promise<Broadcast[]> {
    return (await this.#broadcasts.find({ status }).toArray()).map(toBroadcast);
  }

  /** Topic and creation time of every broadcast created since then (the keeper's history). */
  async createdSince(since: Date): Promise<{ topic: string; createdAt: Date }[]> {
    return this.#broadcasts.find({ createdAt: { $gte: since } }, { projection: { topic: 1, createdAt: 1 } }).toArray();
  }

  async reopenBatch(batchId: string, now: Date): Promise<void> {
    const batch = await this.#batches.findOneAndUpdate({ _id: batchId }, { $set: { done: false } });
    if (batch) await this.#refreshProgress(batch.broadcastId, now);
  }

  /** Broadcasts for an export, oldest first: of `topic`, in `status`, created at or after `since`, or by `ids`. */
  async *select(filter: { topic?: string; status?: BroadcastStatus; since?: Date; ids?: readonly string[] }): AsyncGenerator<Broadcast> {
    const query = {
      ...(filter.topic !== undefined ? { topic: filter.topic } : {}), ...(filter.status ? { status: filter.status } : {}),
      ...(filter.since ? { createdAt: { $gte: filter.since } } : {}), ...(filter.ids ? { _id: { $in: [...filter.ids] } } : {}),
    };
    for await (const doc of this.#broadcasts.find(query).sort({ createdAt: 1 })) yield toBroadcast(doc);
  }

  /**
   * Puts `replacement` in place of `key` wherever it bounds a batch (an erased contact's key must
   * not stay behind). With the greatest remaining key below it, each batch still covers the same
   * remaining contacts; without one, an open start and an end before every key.
   */
  async replaceBatchBoundary(key: string, replacement: string | undefined, mode: 'count' | 'delete'): Promise<number> {
    if (mode === 'count') return this.#batches.countDocuments({ $or: [{ fromKey: key }, { toKey: key }] });
    const from = await this.#batches.updateMany({ fromKey: key }, replacement === undefined ? { $unset: { fromKey: '' } } : { $set: { fromKey: replacement } });
    const to = await this.#batches.updateMany({ toKey: key }, { $set: { toKey: replacement ?? '' } });
    return from.modifiedCount + to.modifiedCount;
  }

  /** When each of a topic's broadcasts since then was created, with its id (the simulator's history). */
  async topicHistory(topic: string, since: Date): Promise<{ id: string; createdAt: Date }[]> {
    const docs = await this.#broadcasts.find({ topic, createdAt: { $gte: since } }, { projection: { _id: 1, createdAt: 1 } }).sort({ createdAt: 1 }).toArray();
    return docs.map((d) => ({ id: d._id, createdAt: d.createdAt }));
  }
}
