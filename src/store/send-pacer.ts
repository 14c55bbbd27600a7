import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection, Db } from 'mongodb';
import { insertUnique, isDuplicateKey } from './database.js';

/** One send slot: its `_id` is the slot's index on a grid of 1000 / rate ms since the epoch. */
interface SlotDoc {
  _id: number;
}

interface SlowDoc {
  _id: string;
  /** Until then, only every `factor`-th slot is used (after a throughput error). */
  until: number;
  factor: number;
  /** No slot before this (a pause after a throughput error). */
  pauseUntil: number;
}

export const SEND_SLOTS = 'send_slots';
export const SEND_SLOWDOWN = 'send_slowdown';

/** Real time, not the app's clock: pacing is about actual requests per second. */
export type Now = () => number;

const SLOW_CACHE_MS = 500;
/**
 * Slots are laid out for this share of the configured rate: a claim or a request that runs a
 * little late shifts its send towards the next slots, and without room the busiest second
 * would go over the provider's limit.
 */
export const PACE_HEADROOM = 0.85;
/**
 * How far behind its slot a send may still start its claim. With slots at PACE_HEADROOM of the
 * rate, sends up to 1000 / 0.85 - 1000 = 176 ms behind their slots still make at most `rate` in
 * any second; this takes 40 ms of it and leaves the rest for the claim and the request's way
 * (on a loaded test server those took up to ~130 ms: at 90 % and 50 ms the busiest second
 * reached 53 at a limit of 50). One slot's length was far too strict: at 50 msg/s a slot is
 * 22 ms, about one round trip to a loaded server, and lanes spent their time reserving slots.
 */
export const LATE_TOLERANCE_MS = 40;

/**
 * The provider's messages-per-second limit, shared by every worker process. Time is cut into
 * slots of 1000 / rate ms; a worker owns a slot by inserting its index into a collection
 * where the index is the unique `_id`, so no slot is ever used twice, whichever workers race
 * for it (a unique insert is the one guard every MongoDB-compatible server keeps atomic).
 * A send goes out inside its slot, so any second holds at most `rate` (+1 at the edge) sends;
 * the slots are laid out at PACE_HEADROOM of the rate to leave room for sends that run late.
 * A throughput error makes everyone use only every n-th slot for a while.
 */
export class SendPacer {
  readonly #slots: Collection<SlotDoc>;
  readonly #slow: Collection<SlowDoc>;
  readonly #interval: number;
  #cursor = 0;
  /** Slots this process reserved and has not handed out yet (epoch ms, earliest first). */
  #pool: number[] = [];
  #refill: Promise<void> | undefined;
  #slowCache: { at: number; doc: SlowDoc | null } | undefined;
  #lastCleanup = 0;

  constructor(db: Db, rate: number, private readonly now: Now = Date.now, private readonly id = 'whatsapp') {
    this.#slots = db.collection<SlotDoc>(SEND_SLOTS);
    this.#slow = db.collection<SlowDoc>(SEND_SLOWDOWN);
    this.#interval = 1000 / (rate * PACE_HEADROOM);
  }

  /** Reserves `count` slots; returns their start times (epoch ms), earliest first. */
  async reserve(count: number): Promise<number[]> {
    const now = this.now();
    const slow = await this.#slowdown(now);
    const stride = slow && slow.until > now ? Math.max(1, Math.round(slow.factor)) : 1;
    const earliest = Math.max(now, slow?.pauseUntil ?? 0);
    let k = Math.ceil(earliest / this.#interval);
    const owned: number[] = [];
    while (owned.length < count) {
      // The cursor moves before the insert: lanes of this process reserving at the same moment
      // try different slots, and only other processes' slots can collide.
      k = Math.ceil(Math.max(k, this.#cursor) / stride) * stride;
      const candidates = Array.from({ length: count - owned.length }, (_, i) => k + i * stride);
      k = (candidates.at(-1) ?? k) + stride;
      this.#cursor = Math.max(this.#cursor, k);
      owned.push(...(await this.#insert(candidates)));
    }
    await this.#cleanup(now);
    return owned.sort((a, b) => a - b).map((slot) => slot * this.#interval);
  }

  /**
   * The next send slot for this process: the earliest reserved one that is not late yet. When
   * none is left, reserves `blockSize` more at once, for all callers waiting at that moment.
   * A slot that went by unused is dropped: when the sends run slower than the pace allows, a
   * block costs one insert for many sends, where a slot reserved for each late send would cost
   * one insert per message.
   */
  async next(blockSize: number): Promise<number> {
    for (;;) {
      while (this.#pool.length > 0 && this.isLate(this.#pool[0] as number)) this.#pool.shift();
      const slot = this.#pool.shift();
      if (slot !== undefined) return slot;
      this.#refill ??= this.reserve(blockSize)
        .then((slots) => {
          this.#pool.push(...slots);
        })
        .finally(() => {
          this.#refill = undefined;
        });
      await this.#refill;
    }
  }

  /** Whether the moment for `slot` has passed by more than LATE_TOLERANCE_MS. */
  isLate(slot: number): boolean {
    return this.now() - slot > LATE_TOLERANCE_MS;
  }

  /** Waits until `slot`. */
  async waitFor(slot: number): Promise<void> {
    const wait = slot - this.now();
    if (wait > 0) await sleep(wait);
  }

  /** After a throughput error: everyone uses every `factor`-th slot for `forMs`, after a pause. */
  async slowDown(forMs: number, factor: number, pauseMs: number): Promise<void> {
    const now = this.now();
    const update = { $set: { until: now + forMs, factor, pauseUntil: now + pauseMs } };
    try {
      await this.#slow.updateOne({ _id: this.id }, update, { upsert: true });
    } catch (err) {
      // Two lanes upserting the first slowdown at once: one insert can lose on the unique _id
      // (MongoDB retries such an upsert itself only in some cases); the document exists now.
      if (!isDuplicateKey(err)) throw err;
      await this.#slow.updateOne({ _id: this.id }, update);
    }
    this.#slowCache = undefined;
    this.#pool = []; // reserved at the old pace
  }

  /** Inserts the candidate slots; returns those this worker now owns. */
  async #insert(candidates: number[]): Promise<number[]> {
    const owned = await insertUnique(this.#slots, candidates.map((_id) => ({ _id })));
    return candidates.filter((_, i) => owned[i]);
  }

  async #slowdown(now: number): Promise<SlowDoc | null> {
    if (!this.#slowCache || now - this.#slowCache.at > SLOW_CACHE_MS) this.#slowCache = { at: now, doc: await this.#slow.findOne({ _id: this.id }) };
    return this.#slowCache.doc;
  }

  /** Forgets slots older than a minute (a TTL index would take up to a minute more). */
  async #cleanup(now: number): Promise<void> {
    if (now - this.#lastCleanup < 10_000) return;
    this.#lastCleanup = now;
    await this.#slots.deleteMany({ _id: { $lt: Math.floor((now - 60_000) / this.#interval) } });
  }
}
