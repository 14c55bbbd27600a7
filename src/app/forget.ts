import { BATCHES } from '../store/broadcast-repository.js';
import { CONTACTS, type Contact } from '../store/contact-repository.js';
import { DELIVERIES, DELIVERY_ATTEMPTS } from '../store/delivery-repository.js';
import { ErasureSweeps } from '../store/erasure-sweeps.js';
import { CONTACT_IDENTITIES } from '../store/identity-repository.js';
import { CONTACT_MERGES } from '../store/merge-repository.js';
import { NUDGES } from '../store/nudge-repository.js';
import type { SuppressionReason } from '../store/suppression-repository.js';
import { WebhookBatchRepository } from '../store/webhook-batch-repository.js';
import type { ContactNames } from '../store/webhook-event-repository.js';
import { callingCodeOf, type ContactId } from '../domain/contact-id.js';
import type { Services } from './deps.js';

export interface ForgetOptions {
  /** The built-in sandbox keeps its state in this database (no WHATSAPP_API_BASE): its records of the number go too. */
  sandboxInDatabase: boolean;
  /** Agenda's job collection. */
  jobsCollection: string;
}

/** What an erasure finds: the contact's records and how many documents per collection name them. */
export interface ErasurePlan {
  id: ContactId;
  names: ContactNames;
  /** Documents naming the contact, per collection (only those with any). */
  found: Record<string, number>;
  /** The number's suppression record, if there is one: it stays. */
  suppression?: { reason: SuppressionReason; at: Date };
}

export interface ErasureResult {
  removed: Record<string, number>;
  /** `kept`: they had opted out (or were removed) and the record stays; `written`: a record with reason `erased` was made. */
  suppression: { state: 'kept' | 'written'; reason: SuppressionReason; at: Date };
  /** Webhook batches still waiting to be stored that name them: run forget again once the worker stored them. */
  waitingWebhookBatches: number;
}

/** Every name of the contact: keys, numbers, wa_ids and user ids, from the id given, the contact records found and their identities. */
function namesOf(id: ContactId, contacts: readonly Contact[], identities: readonly string[]): ContactNames {
  const keys = new Set(contacts.map((c) => c.key));
  const phones = new Set([...contacts.flatMap((c) => (c.phone ? [c.phone] : [])), ...identities.filter((n) => n.startsWith('+'))]);
  const userIds = new Set([...contacts.flatMap((c) => (c.userId ? [c.userId] : [])), ...identities.filter((n) => n.startsWith('user:')).map((n) => n.slice('user:'.length))]);
  const waIds = new Set(contacts.flatMap((c) => (c.waId ? [c.waId] : [])));
  if (id.kind === 'phone') {
    keys.add(id.phone);
    phones.add(id.phone);
  } else {
    keys.add(`user:${id.userId}`);
    userIds.add(id.userId);
  }
  for (const phone of phones) waIds.add(phone.slice(1));
  return { keys: [...keys], phones: [...phones], waIds: [...waIds], userIds: [...userIds] };
}

/** The names the suppression is kept under: every key, number and user id of the person. */
function suppressionNamesOf(names: ContactNames): string[] {
  return [...new Set([...names.keys, ...names.phones, ...names.userIds.map((u) => `user:${u}`)])];
}

type Mode = 'count' | 'delete';

/** Runs every sweep over the contact's names in one mode; the contact records themselves go last. */
async function sweep(services: Services, options: ForgetOptions, names: ContactNames, mode: Mode): Promise<Record<string, number>> {
  const { contacts, deliveries, nudges, events, broadcasts, identities, merges, db } = services;
  const sweeps = new ErasureSweeps(db);
  const counts: Record<string, number> = {};
  const add = (collection: string, n: number) => {
    if (n > 0) counts[collection] = (counts[collection] ?? 0) + n;
  };
  const identityNames = [...names.phones, ...names.userIds.map((u) => `user:${u}`)];
  if (mode === 'count') {
    const linked = await identities.namesOf(names.keys);
    add(CONTACT_IDENTITIES, new Set([...[...linked.values()].flat(), ...(await identities.owners(identityNames)).keys()]).size);
    add(CONTACT_MERGES, (await merges.involving(names.keys)).length);
  } else {
    add(CONTACT_IDENTITIES, (await identities.removeContacts(names.keys)) + (await identities.remove(identityNames)));
    add(CONTACT_MERGES, await merges.removeInvolving(names.keys));
  }
  const erased = await deliveries.eraseContacts(names.keys, callingCodeOf, mode);
  add(DELIVERIES, erased.deliveries);
  add(DELIVERY_ATTEMPTS, erased.attempts);
  add(NUDGES, await nudges.eraseContacts(names.keys, mode));
  for (const [collection, n] of Object.entries(await events.eraseContact(names, mode))) add(collection, n);
  if (options.sandboxInDatabase) {
    for (const [collection, n] of Object.entries(await sweeps.sandbox([...names.waIds, ...names.userIds], mode))) add(collection, n);
  }
  add(options.jobsCollection, await sweeps.jobs(options.jobsCollection, [...names.keys, ...names.waIds, ...names.userIds], mode));
  for (const key of names.keys) {
    add(BATCHES, await broadcasts.replaceBatchBoundary(key, mode === 'count' ? undefined : await contacts.keyBefore(key), mode));
  }
  return counts;
}

/** Finds what names the contact, changing nothing. Nothing found: `found` is empty. */
export async function planErasure(services: Services, options: ForgetOptions, id: ContactId): Promise<ErasurePlan> {
  const given = id.kind === 'phone' ? id.phone : `user:${id.userId}`;
  const owner = (await services.identities.owners([given])).get(given);
  const found = await services.contacts.findForErasure(id.kind === 'phone' ? { phone: id.phone } : { userId: id.userId }, owner ? [owner] : []);
  const linked = await services.identities.namesOf(found.map((c) => c.key));
  const names = namesOf(id, found, [...linked.values()].flat());
  const counts = await sweep(services, options, names, 'count');
  if (found.length > 0) counts[CONTACTS] = found.length;
  const suppressions = await services.suppressions.findMany(suppressionNamesOf(names));
  const suppression = [...suppressions.values()].sort((a, b) => b.at.getTime() - a.at.getTime())[0];
  return { id, names, found: counts, ...(suppression ? { suppression } : {}) };
}

/**
 * Erases the contact: deliveries first (counted into their broadcasts' totals), nudges, stored
 * webhook events, the sandbox's records, jobs and batch boundaries that name them, then the
 * contact records, then once more any delivery a fan-out made meanwhile. The suppression record
 * stays; one with reason `erased` is written when there was none, so an old list cannot bring
 * them back (new consent over WhatsApp, or an import with a later consent, can). Safe to run again.
 */
export async function eraseContact(services: Services, options: ForgetOptions, plan: ErasurePlan, now: Date): Promise<ErasureResult> {
  const removed = await sweep(services, options, plan.names, 'delete');
  const contacts = await services.contacts.deleteKeys(plan.names.keys);
  if (contacts > 0) removed[CONTACTS] = contacts;
  const late = await services.deliveries.eraseContacts(plan.names.keys, callingCodeOf, 'delete');
  if (late.deliveries > 0) removed[DELIVERIES] = (removed[DELIVERIES] ?? 0) + late.deliveries;
  let suppression: ErasureResult['suppression'];
  if (plan.suppression) {
    suppression = { state: 'kept', ...plan.suppression };
  } else {
    for (const name of suppressionNamesOf(plan.names)) await services.suppressions.suppress(name, 'erased', now);
    suppression = { state: 'written', reason: 'erased', at: now };
  }
  const waitingWebhookBatches = await new WebhookBatchRepository(services.db).countMentioning([...plan.names.waIds, ...plan.names.userIds]);
  return { removed, suppression, waitingWebhookBatches };
}
