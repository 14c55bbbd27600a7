import type { ContactRepository } from '../store/contact-repository.js';
import type { IdentityChangeOutcome, IdentityChangeRepository } from '../store/identity-change-repository.js';
import { identityNames, type IdentityName, type IdentityRepository } from '../store/identity-repository.js';
import type { IdentityChangeEvent } from '../whatsapp/webhook-parser.js';
import type { ContactIdentities } from './contact-identities.js';
import type { Logger } from './logger.js';

export interface NumberChangesDeps {
  contacts: ContactRepository;
  identities: IdentityRepository;
  /** Merges two contacts that turn out to be one person. */
  people: Pick<ContactIdentities, 'merge'>;
  changes: IdentityChangeRepository;
  logger: Logger;
}

/**
 * A person's change of number (or, when no number can be shared, of business-scoped user id),
 * as Meta's `system` messages report it. The contact stays the same contact (its key, topics,
 * consent and window); what reaches the person changes:
 * - the contact is found by the old number or the old user id (identities, else a contact
 *   stored under either);
 * - the new number and user id point to it; a contact they pointed to already (the person wrote
 *   from the new number before this message came) is merged into it;
 * - its `phone`, `waId` and `userId` become the new ones (the number is removed when the new one
 *   was not shared: the old one no longer reaches them);
 * - the old number's identity is removed: the number may be given to someone else, who is
 *   another person. The old user id's stays (it names this person only).
 * Applied once per message id (recorded first); applying one again changes nothing more.
 */
export class NumberChanges {
  constructor(private readonly deps: NumberChangesDeps) {}

  /** Applies the changes not applied before, oldest first; returns how many were new. */
  async apply(events: readonly IdentityChangeEvent[], now: Date): Promise<number> {
    if (events.length === 0) return 0;
    const { fresh, unfinished } = await this.deps.changes.begin(events, now);
    const due = events
      .filter((e, i) => (fresh.has(e.id) || unfinished.has(e.id)) && events.findIndex((o) => o.id === e.id) === i)
      .sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
    for (const event of due) {
      const outcome = await this.#applyOne(event, now);
      await this.deps.changes.done(event.id, outcome, now);
    }
    return fresh.size;
  }

  async #applyOne(event: IdentityChangeEvent, now: Date): Promise<IdentityChangeOutcome> {
    const { contacts, identities, people, logger } = this.deps;
    const before = identityNames(event.previous);
    const found = await this.#contactsOf(before);
    const first = found[0];
    if (first === undefined) {
      logger.info('number change of a person without a contact: nothing to change', { change: event.change });
      return 'unknown-person';
    }
    // The old identities of two contacts: one person (the number's contact stays, as in `resolve`).
    for (const other of found.slice(1)) await people.merge(first, other, now);
    const contact = await contacts.current(first);
    const stays = contact?.key ?? first;

    const after = identityNames(event.current);
    const owners = await identities.link(after.map((name) => ({ name, contactKey: stays })), now);
    const newUserId = event.current.userId === undefined ? undefined : `user:${event.current.userId}`;
    let merged = 0;
    for (const other of new Set(after.map((name) => owners.get(name)))) {
      if (other === undefined || other === stays) continue;
      // A user id is new with the number: whoever it points to is this person. A new number that
      // points elsewhere while the new user id does not was someone else's before (numbers are
      // given again): that contact is another person, not merged.
      if (newUserId !== undefined && owners.get(newUserId) !== other) continue;
      await people.merge(stays, other, now);
      merged += 1;
    }
    const phone = event.current.phone;
    const earlier = phone === undefined ? undefined : (await identities.owners([phone])).get(phone);
    if (phone !== undefined && earlier !== undefined && earlier !== stays) {
      // Its earlier owner's messages must not go to this person: their contact drops the number.
      await contacts.releaseNumber(earlier, phone, now);
      await identities.remove([phone]);
      await identities.link([{ name: phone, contactKey: stays }], now);
      logger.warn('number change: the new number pointed to another contact (it had the number before); it now points to the person who has it', { change: event.change });
    }

    await contacts.changeNumber(stays, event.current, now);
    // Last, so that a process killed before still finds the contact by the old number next time.
    const stale = await this.#oldNumbers(event, stays);
    if (stale.length > 0) await identities.remove(stale);
    logger.info('number change applied: same contact, new number and user id', { change: event.change, merged });
    return 'moved';
  }

  /**
   * The number identities of contact `stays` that no longer reach the person: the old number of a
   * `user_changed_number`; for a `user_changed_user_id` (the number changed, the new one was not
   * shared) every number of the contact but the new one.
   */
  async #oldNumbers(event: IdentityChangeEvent, stays: string): Promise<IdentityName[]> {
    const { identities } = this.deps;
    if (event.change === 'user_changed_user_id') {
      const names = (await identities.namesOf([stays])).get(stays) ?? [];
      return names.filter((name) => name.startsWith('+') && name !== event.current.phone);
    }
    const old = event.previous.phone;
    if (old === undefined || old === event.current.phone) return [];
    return (await identities.owners([old])).get(old) === stays ? [old] : [];
  }

  /**
   * The contacts these identity names lead to, the number's first, each once: through their
   * identities, else a contact stored under the name (before identities existed).
   */
  async #contactsOf(names: readonly IdentityName[]): Promise<string[]> {
    if (names.length === 0) return [];
    const owners = await this.deps.identities.owners(names);
    const heads = await this.deps.contacts.heads(names.filter((n) => !owners.has(n)));
    return [...new Set(names.map((n) => owners.get(n) ?? heads.get(n)).filter((k): k is string => k !== undefined))];
  }
}
