import { randomBytes } from 'node:crypto';
import { mergeContacts } from '../domain/contact-merge.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import { suppressionNames, type Contact, type ContactRepository } from '../store/contact-repository.js';
import type { DeliveryRepository } from '../store/delivery-repository.js';
import { identityNames, type IdentityName, type IdentityRepository } from '../store/identity-repository.js';
import type { MergeRepository } from '../store/merge-repository.js';
import type { NudgeRepository } from '../store/nudge-repository.js';
import type { SuppressionRepository } from '../store/suppression-repository.js';
import type { WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { Logger } from './logger.js';

/** How a webhook or a file names one person: the number, the business-scoped user id, or both. */
export interface Person {
  phone?: string | undefined;
  userId?: string | undefined;
}

export interface ContactIdentitiesDeps {
  contacts: ContactRepository;
  identities: IdentityRepository;
  merges: MergeRepository;
  broadcasts: BroadcastRepository;
  deliveries: DeliveryRepository;
  nudges: NudgeRepository;
  events: WebhookEventRepository;
  suppressions: SuppressionRepository;
  logger: Logger;
}

/** Merges followed in one go at most (a chain of merges longer than this is a bug). */
const MAX_MERGE_HOPS = 16;

/**
 * One contact per person, whatever WhatsApp calls them. A person's number and user ids are
 * identities that point to one contact (`contact_identities`, unique per identity). Meeting a
 * known identity with a new one links the new one to the same contact; identities of two
 * contacts seen together merge the two, once, recorded in `contact_merges`.
 */
export class ContactIdentities {
  constructor(private readonly deps: ContactIdentitiesDeps) {}

  /**
   * The contact key of each person, in order (undefined for a person with neither number nor
   * user id): the contact their identities point to, linking identities not seen before and
   * merging contacts that turn out to be one person. A new person's key is their number, else
   * `user:<id>`; the contact itself is created by whoever records them (`recordInbound`, an
   * import). The contact that stays in a merge is the one the number points to.
   */
  async resolve(people: readonly Person[], now: Date): Promise<(string | undefined)[]> {
    const { identities, contacts } = this.deps;
    const names = [...new Set(people.flatMap(identityNames))];
    if (names.length === 0) return people.map(() => undefined);
    const owners = await identities.owners(names);
    // Contacts stored before identities existed (or by hand) are found by their key.
    const heads = await contacts.heads(names.filter((n) => !owners.has(n)));
    const redirects = new Map<string, string>();
    const follow = (key: string): string => {
      let at = key;
      for (let hops = 0; redirects.has(at) && hops < MAX_MERGE_HOPS; hops += 1) at = redirects.get(at) as string;
      return at;
    };
    // Every identity not linked yet, linked in one insert: to the contact another identity of
    // the same person leads to, else to a new contact named after the first (the number), or
    // given a key of its own when a contact has that key already (a number that reached
    // someone else before, who has another number now).
    const wanted = new Map<IdentityName, string>();
    const known = (name: IdentityName): string | undefined => owners.get(name) ?? wanted.get(name) ?? heads.get(name);
    const keyFor = await this.#newKeys(people.flatMap((p) => {
      const own = identityNames(p);
      return own.length > 0 && own.every((n) => known(n) === undefined) ? [own[0] as string] : [];
    }));
    for (const person of people) {
      const own = identityNames(person);
      const target = own.map(known).find((k) => k !== undefined) ?? (own[0] === undefined ? undefined : keyFor(own[0]));
      for (const name of own) if (!owners.has(name) && !wanted.has(name) && target !== undefined) wanted.set(name, heads.get(name) ?? target);
    }
    if (wanted.size > 0) {
      for (const [name, key] of await identities.link([...wanted].map(([name, contactKey]) => ({ name, contactKey })), now)) owners.set(name, key);
    }
    // Identities of one person that lead to two contacts: merged into the number's contact.
    const keys: (string | undefined)[] = [];
    for (const person of people) {
      const own = identityNames(person);
      const first = own[0];
      if (first === undefined) {
        keys.push(undefined);
        continue;
      }
      const stays = follow(owners.get(first) as string);
      for (const other of new Set(own.map((n) => follow(owners.get(n) as string)))) {
        if (other === stays) continue;
        await this.merge(stays, other, now);
        redirects.set(other, stays);
      }
      keys.push(stays);
    }
    return keys;
  }

  /**
   * The contact key of each person as things stand, writing nothing (a dry run): the contact
   * an identity points to, else a contact stored under the name, else the key a new contact
   * would get. Two contacts of one person are not merged here.
   */
  async keysOf(people: readonly Person[]): Promise<(string | undefined)[]> {
    const names = [...new Set(people.flatMap(identityNames))];
    const owners = await this.deps.identities.owners(names);
    const heads = await this.deps.contacts.heads(names.filter((n) => !owners.has(n)));
    const keyFor = await this.#newKeys(people.flatMap((p) => identityNames(p).slice(0, 1)).filter((n) => !owners.has(n) && !heads.has(n)));
    return people.map((person) => {
      const own = identityNames(person);
      return own.map((n) => owners.get(n) ?? heads.get(n)).find((k) => k !== undefined) ?? (own[0] === undefined ? undefined : keyFor(own[0]));
    });
  }

  /**
   * The key a new contact first known by each of these names gets: the name, unless a contact
   * has that key already (then a random one, `c:` and 16 base64url characters).
   */
  async #newKeys(names: readonly IdentityName[]): Promise<(name: IdentityName) => string> {
    const taken = await this.deps.contacts.takenKeys(names);
    const fresh = new Map<IdentityName, string>();
    return (name) => {
      if (!taken.has(name)) return name;
      const key = fresh.get(name) ?? `c:${randomBytes(12).toString('base64url')}`;
      fresh.set(name, key);
      return key;
    };
  }

  /**
   * Merges contact `other` into contact `stays` (they are one person). Each step can be run
   * again, so a merge a killed process left half-way is finished by `resumeMerges`:
   * 1. the record, with `other` as read (its consent evidence stays on record);
   * 2. `other`'s identities point to `stays`;
   * 3. `other` becomes a tombstone (`mergedInto`): no job picks it up, a late write finds it;
   * 4. `stays` takes the merge (`mergeContacts`): later window, later decision per topic,
   *    `mergedFrom` (its fan-out counts `other`'s deliveries as its own);
   * 5. deliveries, nudges and stored events of `other` name `stays`;
   * 6. the record is marked done.
   * A contact merged before into a third one is merged on from there.
   */
  async merge(stays: string, other: string, now: Date, hops = 0): Promise<void> {
    const { contacts, merges, logger } = this.deps;
    if (stays === other) return;
    const found = await contacts.get(other);
    const record = await merges.begin(other, stays, found?.mergedInto === undefined ? found : undefined, now);
    if (record.into !== stays) {
      // Merged into another contact before: that one is the same person too.
      const into = (await contacts.current(record.into))?.key ?? record.into;
      if (record.state === 'merging') await this.#finish(record.into, other, record.contact, now);
      if (into !== stays && hops < MAX_MERGE_HOPS) await this.merge(stays, into, now, hops + 1);
      return;
    }
    await this.#finish(stays, other, record.contact, now);
    logger.info('contacts merged (one person)', { topics: Object.keys(record.contact?.subscriptions ?? {}).length });
  }

  async #finish(stays: string, other: string, merged: Omit<Contact, 'key'> | undefined, now: Date): Promise<void> {
    const { contacts, identities, merges, broadcasts, deliveries, nudges, events } = this.deps;
    await identities.repoint(other, stays, now);
    await contacts.tombstone(other, stays, now);
    if (merged) {
      const current = await contacts.get(stays);
      const base = current ?? { key: stays, status: 'active' as const, subscriptions: {}, sentSinceReply: 0, unansweredTemplates: 0, createdAt: merged.createdAt };
      await contacts.absorb(stays, other, mergeContacts(base, merged), merged.mergedFrom ?? [], now);
    }
    await deliveries.repointContact(other, stays, await broadcasts.allIds(), now);
    await nudges.repointContact(other, stays);
    await events.repointContact(other, stays);
    await merges.done(other, now);
  }

  /** Finishes the merges a killed process left half-way; returns how many. */
  async resumeMerges(now: Date): Promise<number> {
    let resumed = 0;
    for (;;) {
      const open = await this.deps.merges.unfinished(100);
      if (open.length === 0) return resumed;
      for (const merge of open) await this.#finish(merge.into, merge.from, merge.contact, now);
      resumed += open.length;
    }
  }

  /**
   * Links the identities of contacts stored before identities existed (their key, number and
   * user id), merging contacts that are one person (a number's contact that knew the user id,
   * and a `user:<id>` contact). Page by page, safe to run in several processes at once and to
   * run again: a contact is marked once its identities are linked, so a killed run resumes
   * where it stopped. Returns how many contacts were linked and how many merged.
   */
  async migrate(now: Date, pageSize = 500): Promise<{ linked: number; merged: number }> {
    const { contacts, identities } = this.deps;
    let linked = 0;
    let merged = 0;
    await this.resumeMerges(now);
    if (await identities.migrated()) return { linked, merged };
    for (;;) {
      const page = await contacts.unidentified(pageSize);
      if (page.length === 0) {
        await identities.markMigrated(now);
        return { linked, merged };
      }
      const wanted = page.flatMap((c) => [...new Set([c.key, ...identityNames({ phone: c.phone ?? (c.key.startsWith('+') ? c.key : undefined), userId: c.userId })])].map((name) => ({ name, contactKey: c.key })));
      const owners = await identities.link(wanted, now);
      for (const contact of page) {
        const names = wanted.filter((w) => w.contactKey === contact.key).map((w) => w.name);
        const phone = names.find((n) => n.startsWith('+'));
        const stays = owners.get(phone ?? contact.key) ?? contact.key;
        for (const other of new Set([contact.key, ...names.map((n) => owners.get(n) ?? contact.key)])) {
          if (other === stays) continue;
          await this.merge(stays, other, now);
          merged += 1;
        }
      }
      await contacts.markIdentified(page.map((c) => c.key), now);
      linked += page.length;
    }
  }

  /** The names a contact's suppression is kept under: its own, and every identity pointing to it. */
  async suppressionNamesOf(contact: Contact): Promise<string[]> {
    const linked = (await this.deps.identities.namesOf([contact.key])).get(contact.key) ?? [];
    return [...new Set([...suppressionNames(contact), ...linked])];
  }

  /** The keys of these contacts that are suppressed under any of their names, in one query. */
  async suppressedAmong(list: readonly Contact[]): Promise<Set<string>> {
    const names = new Map(list.map((c) => [c.key, suppressionNames(c)]));
    const suppressed = await this.deps.suppressions.suppressedAmong([...new Set([...names.values()].flat())]);
    return new Set(list.filter((c) => (names.get(c.key) ?? []).some((n) => suppressed.has(n))).map((c) => c.key));
  }
}
