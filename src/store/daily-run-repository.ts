import type { Collection, Db } from 'mongodb';
import { DAILY_OUTCOMES, type DailyOutcome, type DailyRunState } from '../domain/daily-run.js';
import { insertUnique, type IndexDeclaration } from './database.js';

/** `schedule`: the tick at the slot; `catch-up`: a worker found it later, within the grace period; `manual`: `npm run daily -- --now`. */
export type DailyTrigger = 'schedule' | 'catch-up' | 'manual';

/** What a finished run records besides its outcome. */
export interface DailyRunResult {
  /** Why it failed or was skipped, or what it found. */
  reason?: string;
  broadcastId?: string;
  estimatedCost?: number;
  currency?: string;
  /** Who the broadcast was planned for. */
  recipients?: { session: number; template: number; skipped: number };
}

/** The run of one topic's slot: claimed once, whatever the number of workers. */
export interface DailyRun extends DailyRunResult {
  /** `runKey(topic, slot)` */
  id: string;
  topic: string;
  slot: Date;
  trigger: DailyTrigger;
  state: DailyRunState;
  /** Fetches started, the first included. */
  attempts: number;
  claimedAt: Date;
  /** Who runs it: `job:<id>` or `cli:<host>:<pid>`. */
  owner: string;
  /** A `running` run whose owner stopped answering may be taken over after this. */
  leaseUntil?: Date;
  /** A `retrying` run fetches again from then on. */
  nextAttemptAt?: Date;
  lastError?: string;
  finishedAt?: Date;
}

interface DailyRunDoc extends Omit<DailyRun, 'id'> {
  _id: string;
}

/** The data a topic's daily run last published, one document per topic. */
export interface PublishedDataset {
  topic: string;
  /** `datasetKey(data, version)`: the next run's data is new when its key differs. */
  key: string;
  data: Record<string, unknown>;
  /** The run that published it; a retry of that run finishes the publishing. */
  runId: string;
  slot: Date;
  broadcastId?: string;
  publishedAt: Date;
}

interface DatasetDoc extends Omit<PublishedDataset, 'topic'> {
  _id: string;
}

export const DAILY_RUNS = 'daily_runs';
export const DAILY_DATASETS = 'daily_datasets';

export const dailyRunIndexes: IndexDeclaration[] = [
  {
    collection: DAILY_RUNS,
    indexes: [
      // One run per topic and slot, whoever claims it (the `_id` is the same key).
      { name: 'daily_runs_topic_slot', key: { topic: 1, slot: -1 }, unique: true },
      { name: 'daily_runs_state', key: { state: 1 } },
    ],
  },
];

function toRun({ _id, ...rest }: DailyRunDoc): DailyRun {
  return { id: _id, ...rest };
}

const SUCCESS: readonly DailyOutcome[] = ['published', 'unchanged'];

export class DailyRunRepository {
  readonly #runs: Collection<DailyRunDoc>;
  readonly #datasets: Collection<DatasetDoc>;

  constructor(db: Db) {
    this.#runs = db.collection<DailyRunDoc>(DAILY_RUNS);
    this.#datasets = db.collection<DatasetDoc>(DAILY_DATASETS);
  }

  /**
   * Claims the run of a slot, by a unique insert: exactly one caller creates it. A run that
   * exists is taken over when it waits for a retry, when its lease ran out (its owner stopped),
   * or when it is the caller's own (a retried job). Otherwise the existing run is returned as
   * not claimed: finished, or running elsewhere.
   */
  async claim(input: { id: string; topic: string; slot: Date; trigger: DailyTrigger; owner: string; now: Date; leaseMs: number }): Promise<{ claimed: boolean; run: DailyRun }> {
    const leaseUntil = new Date(input.now.getTime() + input.leaseMs);
    const doc: DailyRunDoc = { _id: input.id, topic: input.topic, slot: input.slot, trigger: input.trigger, state: 'running', attempts: 1, claimedAt: input.now, owner: input.owner, leaseUntil };
    const [inserted] = await insertUnique(this.#runs, [doc]);
    if (inserted) return { claimed: true, run: toRun(doc) };
    const taken = await this.#runs.findOneAndUpdate(
      { _id: input.id, $or: [{ state: 'retrying' }, { state: 'running', owner: input.owner }, { state: 'running', leaseUntil: { $lte: input.now } }] },
      { $set: { state: 'running', owner: input.owner, leaseUntil }, $inc: { attempts: 1 }, $unset: { nextAttemptAt: '' } },
      { returnDocument: 'after' },
    );
    if (taken) return { claimed: true, run: toRun(taken) };
    const existing = await this.#runs.findOne({ _id: input.id });
    if (!existing) throw new Error(`daily run ${input.id} vanished while being claimed`);
    return { claimed: false, run: toRun(existing) };
  }

  /** Hands the run back to wait for its next fetch; false if the caller no longer owns it. */
  async retryLater(id: string, owner: string, nextAttemptAt: Date, lastError: string): Promise<boolean> {
    const result = await this.#runs.updateOne({ _id: id, owner, state: 'running' }, { $set: { state: 'retrying', nextAttemptAt, lastError }, $unset: { leaseUntil: '' } });
    return result.modifiedCount === 1;
  }

  /** Records the outcome; false if the caller no longer owns the run (another took it over). */
  async finish(id: string, owner: string, outcome: DailyOutcome, result: DailyRunResult, now: Date): Promise<boolean> {
    const set: Partial<DailyRunDoc> = { state: outcome, finishedAt: now };
    for (const [key, value] of Object.entries(result)) if (value !== undefined) (set as Record<string, unknown>)[key] = value;
    const updated = await this.#runs.updateOne({ _id: id, owner, state: 'running' }, { $set: set, $unset: { leaseUntil: '', nextAttemptAt: '' } });
    return updated.modifiedCount === 1;
  }

  async get(id: string): Promise<DailyRun | undefined> {
    const doc = await this.#runs.findOne({ _id: id });
    return doc ? toRun(doc) : undefined;
  }

  /** The latest runs, of one topic or all, latest slot first. */
  async recent(limit: number, topic?: string): Promise<DailyRun[]> {
    return (await this.#runs.find(topic === undefined ? {} : { topic }).sort({ slot: -1 }).limit(limit).toArray()).map(toRun);
  }

  /** Runs not finished: running, or waiting for a retry. */
  async unfinished(): Promise<DailyRun[]> {
    return (await this.#runs.find({ state: { $in: ['running', 'retrying'] } }).toArray()).map(toRun);
  }

  /** The topic's latest finished run. */
  async latestFinished(topic: string): Promise<DailyRun | undefined> {
    const doc = await this.#runs.find({ topic, state: { $in: [...DAILY_OUTCOMES] } }).sort({ slot: -1 }).limit(1).next();
    return doc ? toRun(doc) : undefined;
  }

  /** When the topic's latest run that worked (published, or found nothing new) finished. */
  async lastSuccessAt(topic: string): Promise<Date | undefined> {
    const doc = await this.#runs.find({ topic, state: { $in: [...SUCCESS] } }).sort({ finishedAt: -1 }).limit(1).next();
    return doc?.finishedAt;
  }

  /** Finished runs per topic and outcome. */
  async countByOutcome(): Promise<{ topic: string; outcome: DailyOutcome; runs: number }[]> {
    const rows = await this.#runs.aggregate<{ _id: { topic: string; state: DailyOutcome }; runs: number }>([
      { $match: { state: { $in: [...DAILY_OUTCOMES] } } },
      { $group: { _id: { topic: '$topic', state: '$state' }, runs: { $sum: 1 } } },
    ]).toArray();
    return rows.map((r) => ({ topic: r._id.topic, outcome: r._id.state, runs: r.runs }));
  }

  /** What the topic's daily run last published. */
  async published(topic: string): Promise<PublishedDataset | undefined> {
    const doc = await this.#datasets.findOne({ _id: topic });
    if (!doc) return undefined;
    const { _id, ...rest } = doc;
    return { topic: _id, ...rest };
  }

  /**
   * Makes `next` the topic's published data if it still is `previousKey` (undefined: nothing
   * published yet), atomically: of two runs that found the same new data, one wins and the
   * other, reading again, finds it published. Returns whether this call won.
   */
  async replacePublished(previousKey: string | undefined, next: Omit<PublishedDataset, 'broadcastId'>): Promise<boolean> {
    const { topic, ...rest } = next;
    if (previousKey === undefined) {
      const [inserted] = await insertUnique(this.#datasets, [{ _id: topic, ...rest }]);
      return inserted === true;
    }
    const result = await this.#datasets.updateOne({ _id: topic, key: previousKey }, { $set: rest, $unset: { broadcastId: '' } });
    return result.modifiedCount === 1;
  }

  async setPublishedBroadcast(topic: string, runId: string, broadcastId: string): Promise<void> {
    await this.#datasets.updateOne({ _id: topic, runId }, { $set: { broadcastId } });
  }
}
