import { setTimeout as sleep } from 'node:timers/promises';
import { MongoServerError, type Collection, type Db } from 'mongodb';

interface PaceDoc {
  _id: string;
  /** Epoch ms of the next free send slot, for all workers together. */
  next: number;
  /** Until then, slots are spaced wider by `slowFactor` (after a throughput error). */
  slowUntil: number;
  slowFactor: number;
}

export const SEND_PACE = 'send_pace';

/** Real time, not the app's clock: pacing is about actual requests per second. */
export type Now = () => number;

/**
 * The provider's messages-per-second limit, shared by every worker process through one
 * document: each worker reserves a run of consecutive send slots with a compare-and-set on
 * `next`, then waits for each slot. Any second holds at most `rate` slots (plus one at the edge),
 * whichever worker sends in them. A throughput error widens the spacing for everyone.
 */
export class SendPacer {
  readonly #pace: Collection<PaceDoc>;

  constructor(db: Db, private readonly rate: number, private readonly now: Now = Date.now, private readonly id = 'whatsapp') {
    this.#pace = db.collection<PaceDoc>(SEND_PACE);
  }

  /** Reserves `count` slots; returns their start times (epoch ms), `interval` apart. */
  async reserve(count: number): Promise<number[]> {
    for (let attempt = 0; ; attempt += 1) {
      const now = this.now();
      const doc = await this.#pace.findOne({ _id: this.id });
      if (!doc) {
        try {
          await this.#pace.insertOne({ _id: this.id, next: now, slowUntil: 0, slowFactor: 1 });
        } catch (err) {
          if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
        }
        continue;
      }
      const interval = (1000 / this.rate) * (doc.slowUntil > now ? doc.slowFactor : 1);
      const start = Math.max(doc.next, now);
      const next = start + interval * count;
      const won = await this.#pace.updateOne({ _id: this.id, next: doc.next }, { $set: { next } });
      if (won.modifiedCount === 1) return Array.from({ length: count }, (_, i) => start + i * interval);
      if (attempt > 50) await sleep(Math.random() * 20);
    }
  }

  /** Waits until `slot`. */
  async waitFor(slot: number): Promise<void> {
    const wait = slot - this.now();
    if (wait > 0) await sleep(wait);
  }

  /** After a throughput error: everyone spaces slots `factor` times wider for `forMs`, and starts after a pause. */
  async slowDown(forMs: number, factor: number, pauseMs: number): Promise<void> {
    const now = this.now();
    await this.#pace.updateOne(
      { _id: this.id },
      { $max: { slowUntil: now + forMs, next: now + pauseMs }, $set: { slowFactor: factor } },
      { upsert: true },
    );
  }
}
