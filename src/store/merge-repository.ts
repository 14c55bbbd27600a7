import type { Collection, Db } from 'mongodb';
import type { Contact } from './contact-repository.js';
import { insertUnique, type IndexDeclaration } from './database.js';

/**
 * The record of one merge: the contact that went (`_id`, its key), the one it went into, the
 * merged contact as it was (its consent evidence and counters stay on record), and whether
 * every step is done. Written before the first step, so a merge a killed process left half-way
 * is finished by the next start.
 */
interface MergeDoc {
  _id: string;
  into: string;
  /** The merged contact as read before the merge; absent when there was no contact record (only an identity). */
  contact?: Omit<Contact, 'key'>;
  state: 'merging' | 'done';
  startedAt: Date;
  doneAt?: Date;
}

export interface ContactMerge {
  /** The key of the contact that went. */
  from: string;
  into: string;
  contact?: Omit<Contact, 'key'>;
  state: 'merging' | 'done';
  startedAt: Date;
}

export const CONTACT_MERGES = 'contact_merges';

export const mergeIndexes: IndexDeclaration = {
  collection: CONTACT_MERGES,
  indexes: [
    { name: 'contact_merges_state', key: { state: 1 } },
    { name: 'contact_merges_into', key: { into: 1 } },
  ],
};

function toMerge({ _id, doneAt: _d, ...rest }: MergeDoc): ContactMerge {
  return { from: _id, ...rest };
}

export class MergeRepository {
  readonly #merges: Collection<MergeDoc>;

  constructor(db: Db) {
    this.#merges = db.collection<MergeDoc>(CONTACT_MERGES);
  }

  /**
   * Records the start of a merge of `from` into `into`, once per merged contact: returns the
   * record as stored, which is an earlier one (maybe into another contact) when there was one.
   */
  async begin(from: string, into: string, contact: Contact | undefined, now: Date): Promise<ContactMerge> {
    const snapshot = contact ? (({ key: _key, ...rest }) => rest)(contact) : undefined;
    await insertUnique(this.#merges, [{ _id: from, into, ...(snapshot ? { contact: snapshot } : {}), state: 'merging', startedAt: now }]);
    const stored = await this.#merges.findOne({ _id: from });
    if (!stored) throw new Error(`the merge record of a contact is missing from ${CONTACT_MERGES} right after it was stored`);
    return toMerge(stored);
  }

  async done(from: string, now: Date): Promise<void> {
    await this.#merges.updateOne({ _id: from }, { $set: { state: 'done', doneAt: now } });
  }

  /** Merges a process left half-way, oldest first. */
  async unfinished(limit: number): Promise<ContactMerge[]> {
    return (await this.#merges.find({ state: 'merging' }).sort({ startedAt: 1 }).limit(limit).toArray()).map(toMerge);
  }

  /** The merges of these contacts (either side), for an export or an erasure. */
  async involving(keys: readonly string[]): Promise<ContactMerge[]> {
    if (keys.length === 0) return [];
    const any = { $in: [...keys] };
    return (await this.#merges.find({ $or: [{ _id: any }, { into: any }] }).toArray()).map(toMerge);
  }

  /** Deletes the merge records of these contacts (either side): an erasure; returns how many. */
  async removeInvolving(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const any = { $in: [...keys] };
    return (await this.#merges.deleteMany({ $or: [{ _id: any }, { into: any }] })).deletedCount;
  }
}
