import type { Db } from 'mongodb';
import { SeededRandom } from '../../src/whatsapp/sandbox/seeded-random.js';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { DELIVERIES, DeliveryRepository } from '../../src/store/delivery-repository.js';
import { CONTACT_IDENTITIES, IdentityRepository } from '../../src/store/identity-repository.js';
import { CONTACT_MERGES } from '../../src/store/merge-repository.js';
import { phoneFor } from './seed.js';

/** How many contacts of each kind a database stored before identities existed holds. */
export interface LegacyPlan {
  /** Contacts keyed by number that never showed a user id. */
  phoneOnly: number;
  /** Contacts keyed by number that hold a user id (a message carried both). */
  phoneWithUserId: number;
  /** How many of those also have a contact of their own under `user:<id>` (a message carried only the id). */
  duplicates: number;
  /** `user:<id>` contacts of people whose number was never seen (username contacts). */
  usernameOnly: number;
  /** Shuffles the insert order, so duplicates fall on either side of their number's contact and across pages. */
  seed: number;
}

/** What was seeded, and what the migration must make of it. */
export interface LegacyContacts {
  /** Distinct people: the number of live contacts after the migration. */
  persons: number;
  /** Every `user:<id>` duplicate and the number's contact it must be merged into. */
  duplicates: Map<string, string>;
  /** Every identity name and the live contact it must point to. */
  identities: Map<string, string>;
  /** Every delivery seeded (by id) and the contact it must name afterwards. */
  deliveries: Map<string, string>;
}

/** The time of the number contacts' last message. */
export const NUMBER_REPLIED_AT = new Date('2026-04-01T10:00:00Z');
/** The time of the `user:` duplicates' last message: later, so their window is the one that stays. */
export const USER_REPLIED_AT = new Date('2026-04-20T10:00:00Z');
/** The consent a `user:` duplicate gave to `wetter` over WhatsApp: evidence the merge must keep. */
export const USER_CONSENT_WORDING = 'Willst du das Wetter?';

const userIdFor = (kind: 'B' | 'D', i: number): string => `49.${kind}${String(i).padStart(8, '0')}xyz`;

/**
 * Writes contacts as a database from before identities holds them: keyed by number or by
 * `user:<id>`, no `identified` flag, nothing in `contact_identities`; a person who wrote with
 * the number and later as a username contact is two contacts. The `user:` duplicates have a
 * later window, a topic of their own with consent, and a delivery of a broadcast (sent for
 * even ones, skipped for odd ones), made through the delivery repository.
 */
export async function seedLegacyContacts(db: Db, plan: LegacyPlan, now: Date, from = 0): Promise<LegacyContacts> {
  if (plan.duplicates > plan.phoneWithUserId) throw new Error('a legacy plan cannot have more duplicates than number contacts holding a user id');
  const docs: Record<string, unknown>[] = [];
  const identities = new Map<string, string>();
  const duplicates = new Map<string, string>();
  const base = { status: 'active', unansweredTemplates: 0, updatedAt: now };
  const fallzahlen = { fallzahlen: { state: 'subscribed', changedAt: NUMBER_REPLIED_AT, source: 'import' } };
  let index = from;
  for (let i = 0; i < plan.phoneOnly; i += 1, index += 1) {
    const phone = phoneFor(index);
    docs.push({ _id: phone, phone, waId: phone.slice(1), ...base, subscriptions: fallzahlen, lastInboundAt: NUMBER_REPLIED_AT, sentSinceReply: 1, createdAt: NUMBER_REPLIED_AT });
    identities.set(phone, phone);
  }
  for (let i = 0; i < plan.phoneWithUserId; i += 1, index += 1) {
    const phone = phoneFor(index);
    const userId = userIdFor('B', index);
    docs.push({ _id: phone, phone, waId: phone.slice(1), userId, ...base, subscriptions: fallzahlen, lastInboundAt: NUMBER_REPLIED_AT, sentSinceReply: 3, createdAt: NUMBER_REPLIED_AT });
    identities.set(phone, phone).set(`user:${userId}`, phone);
    if (i < plan.duplicates) {
      const consent = { source: 'keyword', wording: USER_CONSENT_WORDING, language: 'de', messageId: `wamid.U${index}`, at: USER_REPLIED_AT };
      docs.push({
        _id: `user:${userId}`, userId, profileName: 'username', ...base, lastInboundAt: USER_REPLIED_AT, conversationAt: USER_REPLIED_AT, windowOpenedAt: USER_REPLIED_AT,
        subscriptions: { wetter: { state: 'subscribed', changedAt: USER_REPLIED_AT, source: 'keyword', messageId: consent.messageId, consent } }, sentSinceReply: 0, createdAt: USER_REPLIED_AT,
      });
      duplicates.set(`user:${userId}`, phone);
    }
  }
  for (let i = 0; i < plan.usernameOnly; i += 1, index += 1) {
    const key = `user:${userIdFor('D', index)}`;
    docs.push({ _id: key, userId: userIdFor('D', index), ...base, subscriptions: fallzahlen, lastInboundAt: NUMBER_REPLIED_AT, sentSinceReply: 0, createdAt: NUMBER_REPLIED_AT });
    identities.set(key, key);
  }

  const random = new SeededRandom(plan.seed);
  for (let i = docs.length - 1; i > 0; i -= 1) {
    const j = random.between(0, i);
    [docs[i], docs[j]] = [docs[j] as Record<string, unknown>, docs[i] as Record<string, unknown>];
  }
  for (let i = 0; i < docs.length; i += 5000) await db.collection(CONTACTS).insertMany(docs.slice(i, i + 5000) as never[]);

  // The duplicates' deliveries of one broadcast, under their `user:` key, as the fan-out made them.
  const { broadcast } = await new BroadcastRepository(db).create({
    key: `legacy-${from}`, topic: 'wetter', createdAt: now,
    content: { sessionText: 'Sonne', template: { name: 'daily_update', language: 'de', category: 'MARKETING', bodyParams: [], quickReplyPayloads: [] } },
    estimate: { session: duplicates.size, template: 0, skipped: {}, estimatedCost: 0, currency: 'EUR' },
  }, now);
  const repository = new DeliveryRepository(db);
  const idOf = await repository.ids();
  const keys = [...duplicates.keys()];
  const sent = keys.filter((_, i) => i % 2 === 0);
  const claimed = await Promise.all(sent.map((key) => repository.claim(broadcast.id, key, 'session', 0.01, now, undefined)));
  if (claimed.some((won) => !won)) throw new Error('a seeded delivery was claimed before');
  await Promise.all(sent.map((key, i) => repository.markSent(idOf(broadcast.id, key), `wamid.LEGACY${i}`, now)));
  for (const key of keys.filter((_, i) => i % 2 === 1)) await repository.skip(broadcast.id, key, 'outside-window', now);
  const deliveries = new Map(keys.map((key) => [idOf(broadcast.id, key), duplicates.get(key) as string]));
  return { persons: plan.phoneOnly + plan.phoneWithUserId + plan.usernameOnly, duplicates, identities, deliveries };
}

interface StoredContact {
  _id: string;
  mergedInto?: string;
  mergedFrom?: string[];
  identified?: boolean;
  lastInboundAt?: Date;
  sentSinceReply?: number;
  subscriptions?: Record<string, { state: string; consent?: { wording?: string } }>;
}

/** What `checkLinkedContacts` found: one line per rule broken (empty when all hold), with a few examples each. */
export interface LinkReport {
  violations: string[];
  liveContacts: number;
  identities: number;
  merges: number;
  tombstones: number;
}

/**
 * The end state of a finished migration of `seeded` contacts: the flag set; as many live contacts
 * as people, each marked and reached by each of its identities (and no identity reaching a
 * tombstone or nothing); each duplicate a tombstone of its number's contact, merged exactly once
 * (one record, done, with the duplicate as it was); the number's contact holding the later
 * window, the duplicate's topic with its consent and the later reply's counter; each delivery
 * naming the live contact.
 */
export async function checkLinkedContacts(db: Db, seeded: LegacyContacts): Promise<LinkReport> {
  const violations: string[] = [];
  const rule = (what: string, examples: readonly unknown[]): void => {
    if (examples.length > 0) violations.push(`${what}: ${examples.length} (e.g. ${JSON.stringify(examples.slice(0, 3))})`);
  };
  if (!(await new IdentityRepository(db).migrated())) violations.push('the settings flag contact-identities-linked is not set');

  const contacts = new Map((await db.collection<StoredContact>(CONTACTS).find().toArray()).map((c) => [c._id, c]));
  const live = [...contacts.values()].filter((c) => c.mergedInto === undefined);
  const tombstones = [...contacts.values()].filter((c) => c.mergedInto !== undefined);
  if (live.length !== seeded.persons) violations.push(`${live.length} live contacts for ${seeded.persons} people`);
  rule('live contacts not marked identified', live.filter((c) => c.identified !== true).map((c) => c._id));
  rule('duplicates still live', live.filter((c) => seeded.duplicates.has(c._id)).map((c) => c._id));
  rule('tombstones that are not a duplicate merged into its number', tombstones.filter((c) => seeded.duplicates.get(c._id) !== c.mergedInto).map((c) => [c._id, c.mergedInto]));
  rule('duplicates without their tombstone', [...seeded.duplicates.keys()].filter((key) => contacts.get(key)?.mergedInto === undefined));

  const identities = await db.collection<{ _id: string; contactKey: string }>(CONTACT_IDENTITIES).find().toArray();
  const stored = new Map(identities.map((i) => [i._id, i.contactKey]));
  rule('identities missing or pointing elsewhere', [...seeded.identities].filter(([name, key]) => stored.get(name) !== key).map(([name, key]) => [name, key, stored.get(name)]));
  rule('identities not seeded', identities.filter((i) => !seeded.identities.has(i._id)).map((i) => i._id));
  rule('identities of no live contact', identities.filter((i) => contacts.get(i.contactKey)?.mergedInto !== undefined || !contacts.has(i.contactKey)).map((i) => [i._id, i.contactKey]));

  const merges = await db.collection<{ _id: string; into: string; state: string; contact?: StoredContact }>(CONTACT_MERGES).find().toArray();
  rule('merge records of contacts that are not duplicates', merges.filter((m) => !seeded.duplicates.has(m._id)).map((m) => m._id));
  rule('merge records not done or into the wrong contact', merges.filter((m) => m.state !== 'done' || seeded.duplicates.get(m._id) !== m.into).map((m) => [m._id, m.state, m.into]));
  rule('merge records without the duplicate as it was', merges.filter((m) => m.contact?.lastInboundAt?.getTime() !== USER_REPLIED_AT.getTime() || m.contact.subscriptions?.wetter === undefined).map((m) => m._id));
  rule('duplicates without a merge record', [...seeded.duplicates.keys()].filter((key) => !merges.some((m) => m._id === key)));

  const survivors = [...seeded.duplicates].map(([user, phone]) => ({ user, contact: contacts.get(phone) }));
  rule('survivors whose mergedFrom is not exactly the duplicate', survivors.filter(({ user, contact }) => JSON.stringify(contact?.mergedFrom) !== JSON.stringify([user])).map(({ user, contact }) => [user, contact?.mergedFrom]));
  rule('survivors without the later window and its counter', survivors.filter(({ contact }) => contact?.lastInboundAt?.getTime() !== USER_REPLIED_AT.getTime() || contact.sentSinceReply !== 0).map(({ user }) => user));
  rule('survivors without the duplicate\'s topic and its consent, or without their own', survivors.filter(({ contact }) => (
    contact?.subscriptions?.wetter?.state !== 'subscribed' || contact.subscriptions.wetter.consent?.wording !== USER_CONSENT_WORDING || contact.subscriptions.fallzahlen?.state !== 'subscribed'
  )).map(({ user }) => user));

  const deliveries = new Map((await db.collection<{ _id: string; contactKey: string }>(DELIVERIES).find().toArray()).map((d) => [d._id, d.contactKey]));
  rule('deliveries lost', [...seeded.deliveries.keys()].filter((id) => !deliveries.has(id)));
  rule('deliveries naming another contact than the live one', [...seeded.deliveries].filter(([id, key]) => deliveries.has(id) && deliveries.get(id) !== key).map(([id, key]) => [id, key, deliveries.get(id)]));

  return { violations, liveContacts: live.length, identities: identities.length, merges: merges.length, tombstones: tombstones.length };
}
