import { createHash } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db, Filter, MongoBulkWriteError } from 'mongodb';
import { bulkWrite, duplicateKeyIndexes, findByIds, isDuplicateKey, type IndexDeclaration } from './database.js';
import { Pseudonyms, type Pseudonymizer } from './pseudonyms.js';
import { anyOf } from './regex.js';
import { TickBatcher } from './tick-batcher.js';

/**
 * `sending`: claimed, the request may be in flight; `retrying`: known not sent, due again at
 * `nextAttemptAt`. The rest are terminal, and status webhooks only move them forward.
 */
export type DeliveryState = 'sending' | 'retrying' | 'sent' | 'delivered' | 'read' | 'failed' | 'skipped' | 'unknown';
export const TERMINAL_STATES: readonly DeliveryState[] = ['sent', 'delivered', 'read', 'failed', 'skipped', 'unknown'];
const RANK: Record<DeliveryState, number> = { sending: 0, retrying: 0, sent: 1, delivered: 2, read: 3, failed: 4, skipped: 5, unknown: 0 };
/** The state a rank stands for once a request went out (rank only grows: `$max`). */
const RANK_STATE: Record<number, DeliveryState> = { 1: 'sent', 2: 'delivered', 3: 'read', 4: 'failed' };

/**
 * The forward path (sent, delivered, read, failed by status) is kept in `rank` alone, written
 * with `$max` and an `_id`-only filter: the answer of the API and status webhooks may arrive in
 * any order and from any worker, and the result is the same (a late `sent` after `read` changes
 * nothing). `state` keeps the rest of the life cycle (sending, retrying, skipped, unknown, and
 * failed before any request went out).
 */
function effectiveState(state: DeliveryState, rank: number): DeliveryState {
  return (state === 'sending' || state === 'unknown') && rank >= 1 ? (RANK_STATE[rank] ?? state) : state;
}

export interface Pricing {
  type?: string;
  category?: string;
  billable?: boolean;
}

/** What `applyStatuses` found for a status: its delivery, or none (yet). */
export type AppliedStatus =
  | { found: false }
  /** `delivery`: for a `failed` status, the record as it was before the status. */
  | { found: true; delivery?: Delivery };

/** A status webhook for one delivery, as `applyStatuses` takes it. */
export interface StatusUpdate {
  /** The delivery id, when the status carried it back. */
  id?: string;
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  pricing?: Pricing;
  errorCode?: string;
  reason?: string;
}

export interface Delivery {
  id: string;
  broadcastId: string;
  contactKey: string;
  state: DeliveryState;
  kind?: 'session' | 'template';
  reason?: string;
  errorCode?: string;
  wamid?: string;
  attempts: number;
  nextAttemptAt?: Date;
  /** The session message was refused (131047); the template goes once instead. */
  sessionRefused?: boolean;
  estimatedCost?: number;
  pricing?: Pricing;
  claimedAt?: Date;
  /** Ended `unknown` once and was queued again by an operator (`--resend-unknown`): never again. */
  resentUnknown?: boolean;
}

interface DeliveryDoc extends Omit<Delivery, 'id'> {
  _id: string;
  rank: number;
  updatedAt: Date;
}

export const DELIVERIES = 'deliveries';
/** One document per retry attempt: the unique `_id` lets one worker win each attempt. */
export const DELIVERY_ATTEMPTS = 'delivery_attempts';

/**
 * Deliveries of erased contacts, kept only as counts: one document per broadcast and group of
 * state, kind, reason and reported pricing (with the calling code, to price it), no contact.
 * `absorbed` holds, for a moment, the id of a delivery being counted in before it is deleted,
 * so an erasure that dies in between and runs again counts nothing twice.
 */
export const ERASED_DELIVERIES = 'erased_deliveries';

interface ErasedGroupDoc {
  _id: string;
  broadcastId: string;
  state: DeliveryState;
  rank: number;
  reason?: string;
  kind?: 'session' | 'template';
  billable?: boolean;
  category?: string;
  callingCode?: string;
  n: number;
  cost: number;
  absorbed: string[];
}

export const erasedDeliveryIndexes: IndexDeclaration = {
  collection: ERASED_DELIVERIES,
  indexes: [{ name: 'erased_deliveries_broadcast', key: { broadcastId: 1 } }],
};

export const deliveryIndexes: IndexDeclaration = {
  collection: DELIVERIES,
  indexes: [
    { name: 'deliveries_broadcast_state', key: { broadcastId: 1, state: 1 } },
    { name: 'deliveries_state_claimed', key: { state: 1, claimedAt: 1 } },
    { name: 'deliveries_wamid', key: { wamid: 1 } },
  ],
};

/** Makes the delivery id of a broadcast and a contact (see `deliveryIdWith`). */
export type DeliveryIds = (broadcastId: string, contactKey: string) => string;

/**
 * Delivery ids: `dl:<broadcast id>:<pseudonym of the contact key>`, one per broadcast and
 * contact, the same in every worker (planning and claims stay idempotent). The id travels to
 * Meta as `biz_opaque_callback_data` and into log lines, so it holds no phone number or user id
 * in clear; the contact key is a field of the delivery record.
 */
export function deliveryIdWith(pseudonymOf: Pseudonymizer): DeliveryIds {
  return (broadcastId, contactKey) => `dl:${broadcastId}:${pseudonymOf(contactKey)}`;
}

export function isDeliveryId(value: string | undefined): value is string {
  return value?.startsWith('dl:') ?? false;
}

function toDelivery({ _id, rank, updatedAt: _u, ...rest }: DeliveryDoc): Delivery {
  return { id: _id, ...rest, state: effectiveState(rest.state, rank) };
}


/** A first claim (the delivery record) or a sent mark, written together with others (`#writes`). */
type DeliveryWrite = { claim: DeliveryDoc } | { id: string; wamid: string; now: Date };

export class DeliveryRepository {
  readonly #deliveries: Collection<DeliveryDoc>;
  readonly #attempts: Collection<{ _id: string; at: Date }>;
  readonly #pseudonyms: Pseudonyms;
  readonly #erased: Collection<ErasedGroupDoc>;
  /**
   * First claims and sent marks made at the same moment (the lanes of a fan-out: some taking
   * their slot, some getting their answer) go in one command: an unordered bulk write of
   * updates, a claim being an upsert that only inserts. A claim is won when its upsert inserted
   * the record; one that found the record there (or lost the insert to another worker at that
   * instant: a duplicate key) belongs to another worker. Any other failure fails every write of
   * the batch, as it would have failed each on its own.
   */
  readonly #writes = new TickBatcher<DeliveryWrite, boolean>(async (writes) => {
    const ops: AnyBulkWriteOperation<DeliveryDoc>[] = writes.map((write) => {
      if ('claim' in write) {
        const { _id, ...record } = write.claim;
        return { updateOne: { filter: { _id }, update: { $setOnInsert: record }, upsert: true } };
      }
      return { updateOne: { filter: { _id: write.id }, update: { $max: { rank: RANK.sent }, $set: { wamid: write.wamid, updatedAt: write.now } } } };
    });
    let inserted: Record<number, unknown>;
    try {
      inserted = (await this.#deliveries.bulkWrite(ops, { ordered: false })).upsertedIds;
    } catch (err) {
      const lost = duplicateKeyIndexes(err);
      if (!lost || [...lost].some((index) => !('claim' in (writes[index] as DeliveryWrite)))) throw err;
      inserted = (err as MongoBulkWriteError).result.upsertedIds;
    }
    return writes.map((write, index) => !('claim' in write) || index in inserted);
  });

  constructor(db: Db) {
    this.#deliveries = db.collection<DeliveryDoc>(DELIVERIES);
    this.#attempts = db.collection<{ _id: string; at: Date }>(DELIVERY_ATTEMPTS);
    this.#pseudonyms = new Pseudonyms(db);
    this.#erased = db.collection<ErasedGroupDoc>(ERASED_DELIVERIES);
  }

  /** The delivery ids of this database (the first call reads its pseudonym key). */
  async ids(): Promise<DeliveryIds> {
    return deliveryIdWith(await this.#pseudonyms.pseudonymizer());
  }

  /** The id of the delivery of `broadcastId` to `contactKey`. */
  async idOf(broadcastId: string, contactKey: string): Promise<string> {
    return (await this.ids())(broadcastId, contactKey);
  }

  async find(ids: readonly string[]): Promise<Map<string, Delivery>> {
    if (ids.length === 0) return new Map();
    const docs = await findByIds(this.#deliveries, ids);
    return new Map(docs.map((d) => [d._id, toDelivery(d)]));
  }

  async get(id: string): Promise<Delivery | undefined> {
    const doc = await this.#deliveries.findOne({ _id: id });
    return doc ? toDelivery(doc) : undefined;
  }

  /**
   * Claims a delivery before its request is sent. The first attempt inserts the delivery
   * record; attempt n > 1 (a retry, or the template after a refused session) inserts
   * `<delivery id>#n` into the attempts collection. Both are unique `_id`s, so exactly one
   * worker wins each attempt, and every attempt stays on record. Returns false when another
   * worker has it.
   */
  async claim(broadcastId: string, contactKey: string, kind: 'session' | 'template', estimatedCost: number, now: Date, previousAttempts: number | undefined): Promise<boolean> {
    const id = await this.idOf(broadcastId, contactKey);
    if (previousAttempts === undefined) {
      return this.#writes.call({ claim: { _id: id, broadcastId, contactKey, state: 'sending', kind, attempts: 1, claimedAt: now, estimatedCost, rank: 0, updatedAt: now } });
    }
    try {
      await this.#attempts.insertOne({ _id: `${id}#${previousAttempts + 1}`, at: now });
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    await this.#deliveries.updateOne({ _id: id }, { $set: { state: 'sending', kind, attempts: previousAttempts + 1, claimedAt: now, estimatedCost, rank: 0, updatedAt: now }, $unset: { nextAttemptAt: '' } });
    return true;
  }

  /**
   * After a merge: the deliveries of contact `from` (one id per broadcast, so found without an
   * index on the contact) name contact `to` from now on. A retry still waiting is skipped with
   * the reason: the contact that stays gets the broadcast through its own batch, once (its
   * fan-out counts the merged contact's deliveries as its own). Returns how many moved.
   */
  async repointContact(from: string, to: string, broadcastIds: readonly string[], now: Date): Promise<number> {
    const idOf = await this.ids();
    const found = await findByIds(this.#deliveries, broadcastIds.map((b) => idOf(b, from)), { _id: 1, state: 1 });
    await bulkWrite(this.#deliveries, found.map((d) => ({
      updateOne: {
        filter: { _id: d._id },
        update: d.state === 'retrying'
          ? { $set: { contactKey: to, state: 'skipped' as const, reason: 'merged into another contact of the same person', rank: RANK.skipped, updatedAt: now }, $unset: { nextAttemptAt: '' } }
          : { $set: { contactKey: to, updatedAt: now } },
      },
    })));
    return found.length;
  }

  /** Records a skip (once; an existing record wins). */
  async skip(broadcastId: string, contactKey: string, reason: string, now: Date): Promise<void> {
    const id = await this.idOf(broadcastId, contactKey);
    const fromRetry = await this.#deliveries.updateOne({ _id: id, state: 'retrying' }, { $set: { state: 'skipped', reason, rank: RANK.skipped, updatedAt: now }, $unset: { nextAttemptAt: '' } });
    if (fromRetry.modifiedCount === 1) return;
    try {
      await this.#deliveries.insertOne({ _id: id, broadcastId, contactKey, state: 'skipped', reason, attempts: 0, rank: RANK.skipped, updatedAt: now });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /** The request succeeded. A status webhook may have been faster: `$max` keeps its higher rank. */
  async markSent(id: string, wamid: string, now: Date): Promise<void> {
    await this.#writes.call({ id, wamid, now });
  }

  /** Known not sent: try again at `at`. */
  async markRetry(id: string, at: Date, reason: string, changes: { kind?: 'session' | 'template'; sessionRefused?: boolean }, now: Date): Promise<void> {
    await this.#deliveries.updateOne({ _id: id, state: 'sending', rank: 0 }, { $set: { state: 'retrying', nextAttemptAt: at, reason, ...changes, updatedAt: now } });
  }

  async markFailed(id: string, code: string, reason: string, now: Date): Promise<void> {
    await this.#deliveries.updateOne({ _id: id, state: { $in: ['sending', 'retrying'] }, rank: 0 }, { $set: { state: 'failed', rank: RANK.failed, errorCode: code, reason, updatedAt: now }, $unset: { nextAttemptAt: '' } });
  }

  /**
   * Applies status webhooks, one per delivery: only forward (`$max` on the rank), recording the
   * pricing Meta reports. A status names its delivery by id (`biz_opaque_callback_data`) or,
   * without one, by wamid; an id no delivery has (one written before `migrateLegacyDeliveryIds`
   * renamed its delivery) is looked up by wamid as well.
   *
   * Usually this is one bulk write and nothing else: when it matches a delivery for every status,
   * each was found. Only when some matched nothing are the deliveries looked up (to tell which
   * are missing, and find renamed ones by wamid), and the found ones updated again (the same
   * update: `$max` and the same values). A `failed` status also reads its delivery first, as it
   * was, for the 131047 path (a session refused: the template goes instead).
   */
  async applyStatuses(items: readonly StatusUpdate[], now: Date): Promise<AppliedStatus[]> {
    if (items.length === 0) return [];
    const failed = items.flatMap((item, index) => (item.status === 'failed' ? [index] : []));
    const records = new Map<number, DeliveryDoc>();
    if (failed.length > 0) {
      const found = await this.#lookUp(failed.map((index) => items[index] as StatusUpdate));
      failed.forEach((index, i) => {
        const doc = found[i];
        if (doc) records.set(index, doc);
      });
    }
    const update = (item: StatusUpdate, filter: Filter<DeliveryDoc>) => {
      const set: Record<string, unknown> = { wamid: item.wamid, updatedAt: now };
      if (item.pricing) set.pricing = item.pricing;
      if (item.errorCode) Object.assign(set, { errorCode: item.errorCode, reason: item.reason });
      return { updateOne: { filter, update: { $max: { rank: RANK[item.status] }, $set: set } } };
    };
    const filterOf = (item: StatusUpdate, index: number): Filter<DeliveryDoc> => {
      const doc = records.get(index);
      if (doc) return { _id: doc._id };
      return item.id ? { _id: item.id } : { wamid: item.wamid };
    };
    const result = await this.#deliveries.bulkWrite(items.map((item, index) => update(item, filterOf(item, index))), { ordered: false });
    if (result.matchedCount === items.length) {
      return items.map((_, index) => {
        const doc = records.get(index);
        return { found: true, ...(doc ? { delivery: toDelivery(doc) } : {}) };
      });
    }
    // Some matched nothing: which? A delivery found now that did not match then (written in
    // between, or renamed) gets its update here.
    const found = await this.#lookUp(items);
    const ops = items.flatMap((item, index) => {
      const doc = found[index];
      return doc ? [update(item, { _id: doc._id })] : [];
    });
    await bulkWrite(this.#deliveries, ops);
    return items.map((_, index) => {
      const doc = records.get(index) ?? (items[index]?.status === 'failed' ? found[index] : undefined);
      return found[index] ? { found: true, ...(doc ? { delivery: toDelivery(doc) } : {}) } : { found: false };
    });
  }

  /** The delivery each status names (by id, else by wamid; a renamed id by wamid), in one or two queries. */
  async #lookUp(items: readonly StatusUpdate[]): Promise<(DeliveryDoc | undefined)[]> {
    const ids = items.flatMap((i) => (i.id ? [i.id] : []));
    const wamids = items.flatMap((i) => (i.id ? [] : [i.wamid]));
    const or = [...(ids.length > 0 ? [{ _id: { $in: ids } }] : []), ...(wamids.length > 0 ? [{ wamid: { $in: wamids } }] : [])];
    const docs = await this.#deliveries.find(or.length === 1 ? (or[0] as object) : { $or: or }).toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    const wamidsOfUnknownIds = items.flatMap((i) => (i.id && !byId.has(i.id) ? [i.wamid] : []));
    if (wamidsOfUnknownIds.length > 0) docs.push(...(await this.#deliveries.find({ wamid: { $in: wamidsOfUnknownIds } }).toArray()));
    const byWamid = new Map(docs.flatMap((d) => (d.wamid ? [[d.wamid, d] as const] : [])));
    return items.map((i) => (i.id ? (byId.get(i.id) ?? byWamid.get(i.wamid)) : byWamid.get(i.wamid)));
  }

  /** A session refused by a `failed` status (131047): back to the queue for the template, once. */
  async requeueForTemplate(id: string, now: Date): Promise<boolean> {
    const result = await this.#deliveries.updateOne(
      { _id: id, rank: RANK.failed, kind: 'session', sessionRefused: { $ne: true } },
      { $set: { state: 'retrying', rank: 0, sessionRefused: true, kind: 'template', nextAttemptAt: now, reason: 'session refused (131047): template instead', updatedAt: now }, $unset: { errorCode: '' } },
    );
    return result.modifiedCount === 1;
  }

  /** Requests in flight longer than `olderThan` whose worker died and whose status never came. */
  async markStaleUnknown(claimedBefore: Date, now: Date): Promise<string[]> {
    const stale = await this.#deliveries.find({ state: 'sending', rank: 0, claimedAt: { $lt: claimedBefore } }, { projection: { _id: 1, broadcastId: 1 } }).toArray();
    if (stale.length === 0) return [];
    await this.#deliveries.updateMany(
      { _id: { $in: stale.map((d) => d._id) }, state: 'sending', rank: 0 },
      { $set: { state: 'unknown', reason: 'no answer and no status webhook: not resent', updatedAt: now } },
    );
    return [...new Set(stale.map((d) => d.broadcastId))];
  }

  /**
   * Sent messages of a broadcast still waiting for their delivery report (the request went
   * out, no `delivered`, `read` or `failed` came yet): how many, how many of them were sent
   * before `overdueBefore`, and when the oldest was sent.
   */
  async awaitingReport(broadcastId: string, overdueBefore: Date): Promise<{ waiting: number; overdue: number; oldestSentAt?: Date }> {
    const filter = { broadcastId, state: { $in: ['sending', 'unknown'] as DeliveryState[] }, rank: RANK.sent };
    const waiting = await this.#deliveries.countDocuments(filter);
    if (waiting === 0) return { waiting: 0, overdue: 0 };
    const overdue = await this.#deliveries.countDocuments({ ...filter, claimedAt: { $lt: overdueBefore } });
    const oldest = await this.#deliveries.find(filter, { projection: { claimedAt: 1 } }).sort({ claimedAt: 1 }).limit(1).next();
    return { waiting, overdue, ...(oldest?.claimedAt ? { oldestSentAt: oldest.claimedAt } : {}) };
  }

  /**
   * Deliveries of a broadcast that ended `unknown` with no sign that their request left (no
   * status ever came), and were not resent before: the ones `requeueUnknown` would take.
   */
  async unresolvedUnknown(broadcastId: string): Promise<{ contactKey: string; attempts: number }[]> {
    const docs = await this.#deliveries.find({ broadcastId, state: 'unknown', rank: 0, resentUnknown: { $ne: true } }, { projection: { contactKey: 1, attempts: 1 } }).toArray();
    return docs.map((d) => ({ contactKey: d.contactKey, attempts: d.attempts }));
  }

  /**
   * Moves the `unknown` deliveries among `contactKeys` back to `retrying`, due at `now`, marked
   * `resentUnknown`: the fan-out then claims a new attempt (`<id>#n`) and sends once. Each move
   * is a guarded update of one record, so a delivery is moved by one caller only, and once
   * marked it is never moved again (a second run, or a second operator, finds none left).
   * Returns the contact keys this call moved.
   */
  async requeueUnknown(broadcastId: string, contactKeys: readonly string[], reason: string, now: Date): Promise<string[]> {
    const moved: string[] = [];
    const idOf = await this.ids();
    for (const contactKey of contactKeys) {
      const before = await this.#deliveries.findOneAndUpdate(
        { _id: idOf(broadcastId, contactKey), state: 'unknown', rank: 0, resentUnknown: { $ne: true } },
        { $set: { state: 'retrying', nextAttemptAt: now, resentUnknown: true, reason, updatedAt: now } },
      );
      if (before) moved.push(contactKey);
    }
    return moved;
  }

  /** Resent `unknown` deliveries that still wait to be sent (state `retrying`). */
  async pendingResends(broadcastId: string): Promise<string[]> {
    const docs = await this.#deliveries.find({ broadcastId, state: 'retrying', resentUnknown: true }, { projection: { contactKey: 1 } }).toArray();
    return docs.map((d) => d.contactKey);
  }

  /** How many deliveries of a broadcast were resent after ending `unknown`. */
  async resentUnknownCount(broadcastId: string): Promise<number> {
    return this.#deliveries.countDocuments({ broadcastId, resentUnknown: true });
  }

  /**
   * How many deliveries Meta reported as billable, by the category it charged and by what their
   * price depends on: `+` and the first `codeDigits` digits of the number (`+49`), an erased
   * contact's calling code, or none for a contact known only by a BSUID (`pricedNumber`).
   * Counted in the database: a report on a broadcast to a million reads a row per country and
   * category, not a million.
   */
  async billableCounts(broadcastId: string, codeDigits: number): Promise<{ phone: string | undefined; category: string; n: number }[]> {
    const erased = await this.#erased.find({ broadcastId }, { projection: { billable: 1, category: 1, callingCode: 1, n: 1, absorbed: 1 } }).toArray();
    // A delivery being counted into its erased group counts from the group only (as in totals).
    const absorbed = erased.flatMap((e) => e.absorbed);
    const priceKey = { $cond: [{ $eq: [{ $substrCP: ['$contactKey', 0, 1] }, '+'] }, { $substrCP: ['$contactKey', 0, codeDigits + 1] }, null] };
    const rows = await this.#deliveries.aggregate<{ _id: { category?: string | null; phone: string | null }; n: number }>([
      { $match: absorbed.length > 0 ? { broadcastId, 'pricing.billable': true, _id: { $nin: absorbed } } : { broadcastId, 'pricing.billable': true } },
      { $group: { _id: { category: '$pricing.category', phone: priceKey }, n: { $sum: 1 } } },
    ]).toArray();
    return [
      ...rows.map((r) => ({ phone: r._id.phone ?? undefined, category: r._id.category ?? 'utility', n: r.n })),
      ...erased.filter((e) => e.billable === true).map((e) => ({ phone: e.callingCode, category: e.category ?? 'utility', n: e.n })),
    ];
  }

  /** Counts by state, kind and reason, and the estimated and reported cost, of one broadcast. */
  async totals(broadcastId: string): Promise<{ byState: Record<string, number>; byReason: Record<string, number>; byKind: Record<string, number>; estimatedCost: number; billable: number; open: number }> {
    // Erased contacts' deliveries count from their groups (a delivery caught between being
    // counted in and deleted counts from its group only).
    const erased = await this.#erased.find({ broadcastId }).toArray();
    const absorbed = erased.flatMap((e) => e.absorbed);
    const rows = await this.#deliveries.aggregate<{ _id: { state: DeliveryState; rank: number; reason?: string; kind?: string; billable?: boolean }; n: number; cost: number }>([
      { $match: absorbed.length > 0 ? { broadcastId, _id: { $nin: absorbed } } : { broadcastId } },
      { $group: { _id: { state: '$state', rank: '$rank', reason: '$reason', kind: '$kind', billable: '$pricing.billable' }, n: { $sum: 1 }, cost: { $sum: '$estimatedCost' } } },
    ]).toArray();
    for (const e of erased) rows.push({ _id: { state: e.state, rank: e.rank, ...(e.reason ? { reason: e.reason } : {}), ...(e.kind ? { kind: e.kind } : {}), ...(e.billable !== undefined ? { billable: e.billable } : {}) }, n: e.n, cost: e.cost });
    const out = { byState: {} as Record<string, number>, byReason: {} as Record<string, number>, byKind: {} as Record<string, number>, estimatedCost: 0, billable: 0, open: 0 };
    for (const { _id: group, n, cost } of rows) {
      const _id = { ...group, state: effectiveState(group.state, group.rank) };
      out.byState[_id.state] = (out.byState[_id.state] ?? 0) + n;
      if (_id.reason && (_id.state === 'skipped' || _id.state === 'failed' || _id.state === 'unknown')) out.byReason[_id.reason] = (out.byReason[_id.reason] ?? 0) + n;
      if (_id.kind) out.byKind[_id.kind] = (out.byKind[_id.kind] ?? 0) + n;
      if (_id.state !== 'skipped' && _id.state !== 'failed') out.estimatedCost += cost;
      if (_id.billable === true) out.billable += n;
      if (_id.state === 'sending' || _id.state === 'retrying') out.open += n;
    }
    return out;
  }

  /** A broadcast's deliveries for an export, streamed from one cursor; `state` as the record reads. */
  async *ofBroadcast(broadcastId: string, state?: DeliveryState, batchSize = 1000): AsyncGenerator<Delivery> {
    for await (const doc of this.#deliveries.find({ broadcastId }).batchSize(batchSize)) {
      const delivery = toDelivery(doc);
      if (state === undefined || delivery.state === state) yield delivery;
    }
  }

  /**
   * Per contact, in key order: how many deliveries were not skipped or failed, and their
   * estimated cost (what a broadcast's totals count), from one aggregation.
   */
  async *costByContact(): AsyncGenerator<{ contactKey: string; messages: number; estimatedCost: number }> {
    const cursor = this.#deliveries.aggregate<{ _id: string; messages: number; estimatedCost: number }>([
      { $match: { state: { $nin: ['skipped', 'failed'] }, rank: { $nin: [RANK.failed, RANK.skipped] } } },
      { $group: { _id: '$contactKey', messages: { $sum: 1 }, estimatedCost: { $sum: '$estimatedCost' } } },
      { $sort: { _id: 1 } },
    ], { allowDiskUse: true });
    for await (const row of cursor) yield { contactKey: row._id, messages: row.messages, estimatedCost: row.estimatedCost };
  }

  /**
   * Erases the deliveries of these contacts (or with `count` only counts them): each is first
   * counted into its broadcast's erased groups (so totals, costs and metrics stay right), then
   * deleted with its retry attempts. One still to be sent counts as skipped, reason `erased`.
   * Safe to run again after a crash: a delivery counted in but not deleted is not counted twice.
   */
  async eraseContacts(keys: readonly string[], callingCodeOf: (key: string) => string | undefined, mode: 'count' | 'delete'): Promise<{ deliveries: number; attempts: number }> {
    const filter = { contactKey: { $in: [...keys] } };
    if (keys.length === 0) return { deliveries: 0, attempts: 0 };
    const pseudonymOf = await this.#pseudonyms.pseudonymizer();
    const ids = keys.map(pseudonymOf);
    const attemptsOf = { _id: { $regex: anyOf(ids, '^dl:[^#]*:', '#') } };
    if (mode === 'count') return { deliveries: await this.#deliveries.countDocuments(filter), attempts: await this.#attempts.countDocuments(attemptsOf) };
    let deliveries = 0;
    for await (const doc of this.#deliveries.find(filter)) {
      const open = doc.rank === 0 && (doc.state === 'sending' || doc.state === 'retrying');
      const billable = doc.pricing?.billable;
      const group = {
        broadcastId: doc.broadcastId, state: open ? 'skipped' as const : doc.state, rank: open ? RANK.skipped : doc.rank,
        ...(open ? { reason: 'erased' } : doc.reason ? { reason: doc.reason } : {}), ...(doc.kind ? { kind: doc.kind } : {}),
        ...(billable !== undefined ? { billable } : {}), ...(billable ? { category: doc.pricing?.category ?? 'utility', callingCode: callingCodeOf(doc.contactKey) } : {}),
      };
      const _id = `${doc.broadcastId}|${createHash('sha256').update(JSON.stringify(group)).digest('base64url').slice(0, 16)}`;
      try {
        await this.#erased.updateOne({ _id, absorbed: { $ne: doc._id } }, { $inc: { n: 1, cost: doc.estimatedCost ?? 0 }, $push: { absorbed: doc._id }, $setOnInsert: group }, { upsert: true });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err; // counted in by an erasure that stopped before deleting it
      }
      await this.#deliveries.deleteOne({ _id: doc._id });
      await this.#erased.updateOne({ _id }, { $pull: { absorbed: doc._id } });
      deliveries += 1;
    }
    // Ids an erasure that died after the delete left in `absorbed`.
    for (const e of await this.#erased.find({ absorbed: { $regex: anyOf(ids, '^dl:.*:', '$') } }, { projection: { absorbed: 1 } }).toArray()) {
      const left = e.absorbed.filter((id) => ids.some((p) => id.endsWith(`:${p}`)));
      await this.#erased.updateOne({ _id: e._id }, { $pull: { absorbed: { $in: left } } });
    }
    const attempts = (await this.#attempts.deleteMany(attemptsOf)).deletedCount;
    return { deliveries, attempts };
  }

  /** Deliveries of these broadcasts that went out (sent, delivered or read): to whom and when (the simulator's history). */
  async wentOut(broadcastIds: readonly string[]): Promise<{ contactKey: string; at: Date }[]> {
    if (broadcastIds.length === 0) return [];
    const docs = await this.#deliveries.find(
      { broadcastId: { $in: [...broadcastIds] }, rank: { $gte: RANK.sent, $lte: RANK.read } },
      { projection: { contactKey: 1, claimedAt: 1 } },
    ).toArray();
    return docs.filter((d) => d.claimedAt !== undefined).map((d) => ({ contactKey: d.contactKey, at: d.claimedAt as Date }));
  }
}
