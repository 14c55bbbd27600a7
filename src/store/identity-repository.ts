import type { Collection, Db } from 'mongodb';
import { findByIds, insertUnique, type IndexDeclaration } from './database.js';
import { SETTINGS } from './pseudonyms.js';

/** The settings document that says every contact stored before identities existed is linked. */
const MIGRATED = 'contact-identities-linked';

/**
 * The name of one identity of a person, as WhatsApp shows it: the E.164 number (`+4915…`) or
 * `user:` and a business-scoped user id (`user:49.AbC…`). The same forms are the keys of
 * contacts created from them, and what suppressions are kept under.
 */
export type IdentityName = string;

/** The identity name of a number, else of a user id. */
export function identityName(phone: string | undefined, userId: string | undefined): IdentityName | undefined {
  if (phone) return phone;
  return userId ? `user:${userId}` : undefined;
}

/** Every identity name a webhook or a file shows for one person: the number and the user id. */
export function identityNames(person: { phone?: string | undefined; userId?: string | undefined }): IdentityName[] {
  return [...(person.phone ? [person.phone] : []), ...(person.userId ? [`user:${person.userId}`] : [])];
}

interface IdentityDoc {
  /** The identity's name. */
  _id: string;
  /** The contact it points to. */
  contactKey: string;
  linkedAt: Date;
}

export const CONTACT_IDENTITIES = 'contact_identities';

export const identityIndexes: IndexDeclaration = {
  collection: CONTACT_IDENTITIES,
  indexes: [{ name: 'contact_identities_contact', key: { contactKey: 1 } }],
};

/**
 * Which contact each identity (number, user id) belongs to. The name is the `_id`, so the
 * database lets one identity point to one contact only: two workers that meet the same new
 * person at once both try to link it, and one of them finds the other's link.
 */
export class IdentityRepository {
  readonly #identities: Collection<IdentityDoc>;
  readonly #settings: Collection<{ _id: string; at: Date }>;

  constructor(db: Db) {
    this.#identities = db.collection<IdentityDoc>(CONTACT_IDENTITIES);
    this.#settings = db.collection<{ _id: string; at: Date }>(SETTINGS);
  }

  /** Whether the migration of contacts stored before identities existed has finished once. */
  async migrated(): Promise<boolean> {
    return (await this.#settings.countDocuments({ _id: MIGRATED }, { limit: 1 })) > 0;
  }

  async markMigrated(now: Date): Promise<void> {
    await this.#settings.updateOne({ _id: MIGRATED }, { $setOnInsert: { at: now } }, { upsert: true });
  }

  /** The contact of each of these names that has one, in one query. */
  async owners(names: readonly IdentityName[]): Promise<Map<IdentityName, string>> {
    const docs = await findByIds(this.#identities, names, { _id: 1, contactKey: 1 });
    return new Map(docs.map((d) => [d._id, d.contactKey]));
  }

  /**
   * Links names to contacts where the name has no contact yet, in one insert; returns the
   * contact each name points to afterwards (this call's, or the one that was there first).
   */
  async link(links: readonly { name: IdentityName; contactKey: string }[], now: Date): Promise<Map<IdentityName, string>> {
    const unique = [...new Map(links.map((l) => [l.name, l])).values()];
    const stored = await insertUnique(this.#identities, unique.map((l) => ({ _id: l.name, contactKey: l.contactKey, linkedAt: now })));
    const owners = new Map(unique.filter((_, i) => stored[i]).map((l) => [l.name, l.contactKey]));
    const taken = unique.filter((_, i) => !stored[i]).map((l) => l.name);
    for (const [name, key] of await this.owners(taken)) owners.set(name, key);
    return owners;
  }

  /** Points every identity of contact `from` at contact `to` (a merge). */
  async repoint(from: string, to: string, now: Date): Promise<void> {
    await this.#identities.updateMany({ contactKey: from }, { $set: { contactKey: to, linkedAt: now } });
  }

  /** The identity names of each of these contacts. */
  async namesOf(contactKeys: readonly string[]): Promise<Map<string, IdentityName[]>> {
    const names = new Map<string, IdentityName[]>(contactKeys.map((k) => [k, []]));
    if (contactKeys.length === 0) return names;
    for await (const doc of this.#identities.find({ contactKey: { $in: [...new Set(contactKeys)] } }, { projection: { _id: 1, contactKey: 1 } })) {
      names.get(doc.contactKey)?.push(doc._id);
    }
    return names;
  }

  /** Removes every identity of these contacts (an erasure); returns how many. */
  async removeContacts(contactKeys: readonly string[]): Promise<number> {
    if (contactKeys.length === 0) return 0;
    return (await this.#identities.deleteMany({ contactKey: { $in: [...contactKeys] } })).deletedCount;
  }

  /** Removes these identities, whichever contact they point to (an erasure); returns how many. */
  async remove(names: readonly IdentityName[]): Promise<number> {
    if (names.length === 0) return 0;
    return (await this.#identities.deleteMany({ _id: { $in: [...names] } })).deletedCount;
  }
}
