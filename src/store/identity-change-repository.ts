import { createHash } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { IdentityChangeType } from '../whatsapp/webhook-parser.js';
import { findByIds, insertUnique } from './database.js';

/** What applying a number change did. */
export type IdentityChangeOutcome = 'moved' | 'unknown-person';

/**
 * One number change (a `system` message) as received: recorded before it is applied, so Meta's
 * retry of the same message is not applied again, and marked once every step is done (one a
 * killed process left half-way is applied again, which is harmless). It holds nothing that names
 * the person: the `_id` is a hash of the message id (a wamid carries the sender's number), and the
 * numbers and user ids are on the contact and its identities, which an erasure covers.
 */
interface IdentityChangeDoc {
  /** SHA-256 of the system message's id. */
  _id: string;
  change: IdentityChangeType;
  receivedAt: Date;
  appliedAt?: Date;
  outcome?: IdentityChangeOutcome;
}

export const IDENTITY_CHANGES = 'identity_changes';

function idOf(messageId: string): string {
  return createHash('sha256').update(messageId).digest('hex');
}

export class IdentityChangeRepository {
  readonly #changes: Collection<IdentityChangeDoc>;

  constructor(db: Db) {
    this.#changes = db.collection<IdentityChangeDoc>(IDENTITY_CHANGES);
  }

  /**
   * Records these changes (by message id) where they are not recorded yet, in one insert.
   * Returns the message ids to apply: `fresh`, seen for the first time, and `unfinished`,
   * recorded before but never marked applied (a process died while applying them).
   */
  async begin(changes: readonly { id: string; change: IdentityChangeType }[], now: Date): Promise<{ fresh: Set<string>; unfinished: Set<string> }> {
    const unique = [...new Map(changes.map((c) => [c.id, c])).values()];
    const stored = await insertUnique(this.#changes, unique.map((c) => ({ _id: idOf(c.id), change: c.change, receivedAt: now })));
    const fresh = new Set(unique.filter((_, i) => stored[i]).map((c) => c.id));
    const seen = unique.filter((_, i) => !stored[i]).map((c) => c.id);
    const open = new Set((await findByIds(this.#changes, seen.map(idOf), { _id: 1, appliedAt: 1 })).filter((d) => d.appliedAt === undefined).map((d) => d._id));
    return { fresh, unfinished: new Set(seen.filter((id) => open.has(idOf(id)))) };
  }

  async done(messageId: string, outcome: IdentityChangeOutcome, now: Date): Promise<void> {
    await this.#changes.updateOne({ _id: idOf(messageId) }, { $set: { appliedAt: now, outcome } });
  }

  /** Whether the change of this message is recorded, and how it was applied (tests, operators). */
  async find(messageId: string): Promise<{ applied: boolean; outcome?: IdentityChangeOutcome } | undefined> {
    const doc = await this.#changes.findOne({ _id: idOf(messageId) });
    return doc ? { applied: doc.appliedAt !== undefined, ...(doc.outcome ? { outcome: doc.outcome } : {}) } : undefined;
  }
}
