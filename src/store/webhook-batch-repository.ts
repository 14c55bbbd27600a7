import { Binary, ObjectId, type Collection, type Db } from 'mongodb';
import type { IndexDeclaration } from './database.js';
import { TickBatcher } from './tick-batcher.js';

/**
 * A webhook POST as it arrived, kept until its events are stored: the webhook answers Meta
 * after this one write, and the handling happens afterwards. The body is kept as the exact
 * bytes that were signed (it holds phone numbers and texts, as the events it becomes do).
 */
interface BatchDoc {
  _id: ObjectId;
  body: Binary;
  receivedAt: Date;
  /**
   * Until then the worker that received it handles it; after that, anyone may (its worker died
   * or stopped before it was done). Taking one sets it again.
   */
  leaseUntil: Date;
}

export interface StoredBatch {
  id: string;
  body: Buffer;
  receivedAt: Date;
}

export const WEBHOOK_BATCHES = 'webhook_batches';

export const webhookBatchIndexes: IndexDeclaration = {
  collection: WEBHOOK_BATCHES,
  indexes: [{ name: 'webhook_batches_lease', key: { leaseUntil: 1 } }],
};

export class WebhookBatchRepository {
  readonly #batches: Collection<BatchDoc>;
  /**
   * POSTs received at the same moment are written together: one insert for all of them (an
   * insert per POST was most of the worker's database commands during a fan-out). Each POST
   * still waits for the acknowledged write that holds its own document.
   */
  readonly #adds = new TickBatcher<BatchDoc, string>(async (docs) => {
    // Unordered: nothing depends on the order, and the server may write them as it likes. Any
    // error fails every POST of the write (answered 503, so Meta sends them again): a document
    // that did land stays leased, and the sweep stores its events once, as the retry does.
    await this.#batches.insertMany(docs, { ordered: false });
    return docs.map((doc) => doc._id.toHexString());
  });

  constructor(db: Db) {
    this.#batches = db.collection<BatchDoc>(WEBHOOK_BATCHES);
  }

  /**
   * The one durable write before the webhook is answered, shared with the other POSTs received
   * in the same turn of the event loop. Returns the batch's id once it is acknowledged; throws
   * when the write holding it failed.
   */
  add(body: Buffer, now: Date, leaseMs: number): Promise<string> {
    return this.#adds.call({ _id: new ObjectId(), body: new Binary(body), receivedAt: now, leaseUntil: new Date(now.getTime() + leaseMs) });
  }

  /**
   * Takes the oldest batch whose lease ran out (a worker died holding it), leasing it anew,
   * so two workers sweeping at once do not both take it. Undefined when there is none.
   */
  async takeAbandoned(now: Date, leaseMs: number): Promise<StoredBatch | undefined> {
    const doc = await this.#batches.findOneAndUpdate(
      { leaseUntil: { $lte: now } },
      { $set: { leaseUntil: new Date(now.getTime() + leaseMs) } },
      { sort: { _id: 1 }, returnDocument: 'after' },
    );
    return doc ? { id: doc._id.toHexString(), body: Buffer.from(doc.body.buffer), receivedAt: doc.receivedAt } : undefined;
  }

  /** Forgets batches whose events are all stored. */
  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#batches.deleteMany({ _id: { $in: ids.map((id) => ObjectId.createFromHexString(id)) } });
  }

  /** Hands batches back at once (a stopping worker), so the next sweep takes them without waiting for the lease. */
  async release(ids: readonly string[], now: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.#batches.updateMany({ _id: { $in: ids.map((id) => ObjectId.createFromHexString(id)) } }, { $set: { leaseUntil: now } });
  }

  /** How many wait to be handled (a metric, and tests). */
  async count(): Promise<number> {
    return this.#batches.countDocuments();
  }

  /** Batches still waiting to be stored whose body holds any of these strings (an erased contact's number or user id). */
  async countMentioning(needles: readonly string[]): Promise<number> {
    if (needles.length === 0) return 0;
    let count = 0;
    for await (const doc of this.#batches.find({}, { projection: { body: 1 } })) {
      const body = Buffer.from(doc.body.buffer);
      if (needles.some((n) => body.includes(n))) count += 1;
    }
    return count;
  }
}
