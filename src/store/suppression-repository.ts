import { createHmac } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { findByIds } from './database.js';

export type SuppressionReason = 'opt-out' | 'removed' | 'erased';

/**
 * What is kept of a number that opted out or was removed: a keyed hash (HMAC-SHA256 with a
 * secret), the reason and the date. Enough to refuse messaging or re-importing it without new
 * consent; the number itself cannot be read back from it.
 */
interface SuppressionDoc {
  _id: string;
  reason: SuppressionReason;
  at: Date;
}

export const SUPPRESSIONS = 'suppressions';

export class SuppressionRepository {
  readonly #suppressions: Collection<SuppressionDoc>;

  constructor(db: Db, private readonly key: string) {
    this.#suppressions = db.collection<SuppressionDoc>(SUPPRESSIONS);
  }

  hash(phone: string): string {
    return createHmac('sha256', this.key).update(phone).digest('hex');
  }

  /** Writes (or refreshes) the suppression of a number. */
  async suppress(phone: string, reason: SuppressionReason, at: Date): Promise<void> {
    await this.#suppressions.updateOne({ _id: this.hash(phone) }, { $set: { reason, at } }, { upsert: true });
  }

  /** New consent lifts a suppression. */
  async lift(phone: string): Promise<void> {
    await this.#suppressions.deleteOne({ _id: this.hash(phone) });
  }

  async isSuppressed(phone: string): Promise<boolean> {
    return (await this.#suppressions.countDocuments({ _id: this.hash(phone) }, { limit: 1 })) > 0;
  }

  /** Which of these numbers (or contact keys) are suppressed, in one query. */
  async suppressedAmong(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const byHash = new Map(keys.map((k) => [this.hash(k), k]));
    const docs = await findByIds(this.#suppressions, [...byHash.keys()], { _id: 1 });
    return new Set(docs.map((d) => byHash.get(d._id) as string));
  }

  async find(phone: string): Promise<{ reason: SuppressionReason; at: Date } | undefined> {
    const doc = await this.#suppressions.findOne({ _id: this.hash(phone) });
    return doc ? { reason: doc.reason, at: doc.at } : undefined;
  }

  /** The suppression records of these numbers (or contact keys), by key, in one query. */
  async findMany(keys: readonly string[]): Promise<Map<string, { reason: SuppressionReason; at: Date }>> {
    if (keys.length === 0) return new Map();
    const byHash = new Map(keys.map((k) => [this.hash(k), k]));
    const docs = await findByIds(this.#suppressions, [...byHash.keys()]);
    return new Map(docs.map((d) => [byHash.get(d._id) as string, { reason: d.reason, at: d.at }]));
  }

  /** Lifts the suppressions of these numbers (or contact keys) in one query. */
  async liftMany(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#suppressions.deleteMany({ _id: { $in: keys.map((k) => this.hash(k)) } });
  }
}
