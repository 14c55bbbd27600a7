import type { Collection, Db, Filter, ObjectId } from 'mongodb';
import { anyOf } from './regex.js';
import { SANDBOX_CONTACTS, SANDBOX_MESSAGES, SANDBOX_WEBHOOKS, SANDBOX_WINDOWS } from './sandbox-state-repository.js';

/** A document keyed by a string (the sandbox keys windows and contacts by wa_id, messages by wamid). */
interface Keyed {
  _id: string;
  to?: string;
  body?: string;
}

/**
 * The erasure's sweeps of collections that no repository of the worker's own owns: what the
 * built-in sandbox (Meta's side, played in the worker's database) keeps about a number, and
 * scheduled jobs whose data names the contact.
 */
export class ErasureSweeps {
  constructor(private readonly db: Db) {}

  /**
   * The built-in sandbox's records of these wa_ids or user ids: their window, their settings,
   * the messages sent to them and the webhooks about them waiting for a retry. Deleted (or with
   * `count` only counted) by field, webhooks by their body naming one of them.
   */
  async sandbox(recipients: readonly string[], mode: 'count' | 'delete'): Promise<Record<string, number>> {
    if (recipients.length === 0) return {};
    const ids = { _id: { $in: [...recipients] } };
    const webhooks = { body: { $regex: anyOf(recipients, '"', '"') } };
    return {
      [SANDBOX_WINDOWS]: await this.#run(this.db.collection<Keyed>(SANDBOX_WINDOWS), ids, mode),
      [SANDBOX_CONTACTS]: await this.#run(this.db.collection<Keyed>(SANDBOX_CONTACTS), ids, mode),
      [SANDBOX_MESSAGES]: await this.#run(this.db.collection<Keyed>(SANDBOX_MESSAGES), { to: { $in: [...recipients] } }, mode),
      [SANDBOX_WEBHOOKS]: await this.#run(this.db.collection<Keyed>(SANDBOX_WEBHOOKS), webhooks, mode),
    };
  }

  /**
   * Jobs in `collection` (Agenda's) that are not running and whose data names one of `needles`
   * (a contact key, number or user id). No job of the worker names a contact today; this keeps
   * it so if one ever does. Read whole: the job collection holds one document per job name or key.
   */
  async jobs(collection: string, needles: readonly string[], mode: 'count' | 'delete'): Promise<number> {
    if (needles.length === 0) return 0;
    const jobs = this.db.collection<{ data?: unknown; lockedAt?: Date | null }>(collection);
    const naming: ObjectId[] = [];
    for await (const job of jobs.find({}, { projection: { data: 1, lockedAt: 1 } })) {
      const data = JSON.stringify(job.data ?? null);
      if (!job.lockedAt && needles.some((n) => data.includes(JSON.stringify(n).slice(1, -1)))) naming.push(job._id);
    }
    if (naming.length === 0 || mode === 'count') return naming.length;
    return (await jobs.deleteMany({ _id: { $in: naming } })).deletedCount;
  }

  async #run(collection: Collection<Keyed>, filter: Filter<Keyed>, mode: 'count' | 'delete'): Promise<number> {
    return mode === 'count' ? collection.countDocuments(filter) : (await collection.deleteMany(filter)).deletedCount;
  }
}
