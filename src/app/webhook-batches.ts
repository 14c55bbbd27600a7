import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import type { WebhookBatchRepository } from '../store/webhook-batch-repository.js';
import { parseWebhookBody, type ParsedWebhook } from '../whatsapp/webhook-parser.js';
import { BackgroundDrain } from './background-drain.js';
import { InFlight } from './in-flight.js';
import type { ScreenedBatch, StoreSummary, WebhookIngest } from './webhook-ingest.js';

export interface WebhookBatchSettings {
  /** How long the receiving worker keeps a batch to itself before any worker's sweep may take it. */
  leaseMs: number;
  /** At most this many events are stored in one pass (several POSTs together). */
  maxEventsPerStore: number;
}

interface Queued {
  id: string;
  batch: ScreenedBatch;
}

function eventsIn(batch: ScreenedBatch): number {
  return batch.messages.length + batch.statuses.length + batch.preferences.length + batch.rejected.length;
}

/**
 * A webhook POST is answered once its bytes are stored (one insert, shared by the POSTs received
 * at the same moment); its events are stored and handled right after, in the background, several
 * POSTs in one pass. A batch stays stored until its events are, so a worker killed in between
 * loses nothing: once the batch's lease runs out, the sweep (any worker's) stores its events.
 * Storing is idempotent, so a batch taken twice stores nothing twice. A POST of statuses only
 * (most of them during a fan-out) is stored as its status events at once instead, in one insert
 * shared the same way, and needs no copy of its bytes.
 */
export class WebhookBatches {
  readonly #queue: Queued[] = [];
  readonly #drain: BackgroundDrain;
  /** `receive` calls whose write is under way. */
  readonly #receiving = new InFlight();

  constructor(
    private readonly batches: WebhookBatchRepository,
    private readonly ingest: WebhookIngest,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: WebhookBatchSettings,
    /** Told what each pass stored, to start handling it. */
    private readonly onStored: (summary: StoreSummary) => void,
  ) {
    this.#drain = new BackgroundDrain((signal) => this.#storeQueued(signal), logger, 'storing webhook events');
  }

  /**
   * The one durable write before the answer; returns what the answer tells about the batch. A
   * batch of statuses only is stored as its events at once (one write as well, and nothing to
   * remove afterwards); any other is stored as received, its events right after.
   */
  receive(raw: Buffer, parsed: ParsedWebhook): Promise<ScreenedBatch> {
    return this.#receiving.track(this.#receive(raw, parsed));
  }

  async #receive(raw: Buffer, parsed: ParsedWebhook): Promise<ScreenedBatch> {
    const batch = this.ingest.screen(parsed);
    if (this.ingest.statusesOnly(batch)) {
      await this.ingest.storeStatuses(batch);
      return batch;
    }
    const id = await this.batches.add(raw, this.clock.now(), this.settings.leaseMs);
    this.#queue.push({ id, batch });
    this.#drain.kick();
    return batch;
  }

  /**
   * Stores the events of batches whose worker died or stopped before storing them. Returns how
   * many batches it took.
   */
  async sweep(signal: AbortSignal): Promise<number> {
    let taken = 0;
    while (!signal.aborted) {
      const stored = await this.batches.takeAbandoned(this.clock.now(), this.settings.leaseMs);
      if (!stored) break;
      const parsed = parseWebhookBody(stored.body);
      // Its signature was checked and it parsed when it came in; a body that no longer parses
      // (a newer parser) is dropped with a warning rather than retried for ever.
      if (parsed.ok) this.onStored(await this.ingest.store([this.ingest.screen(parsed)]));
      else this.logger.warn('stored webhook batch no longer parses: dropped', { batch: stored.id, reason: parsed.reason });
      await this.batches.remove([stored.id]);
      taken += 1;
    }
    return taken;
  }

  /** Waits until what was received so far is stored (tests). */
  idle(): Promise<void> {
    return this.#drain.idle();
  }

  /**
   * Stops storing after the pass in hand; what is left stays stored for the sweep of the next
   * start. The HTTP server is closed before and cuts its connections at once, so first the
   * writes of POSTs under way are let finish, before the database closes under them (their
   * senders saw the connection cut and send them again: stored once).
   */
  async stop(): Promise<void> {
    await this.#receiving.settled();
    await this.#drain.stop();
    const left = this.#queue.splice(0).map((q) => q.id);
    try {
      await this.batches.release(left, this.clock.now());
    } catch (err) {
      this.logger.warn('webhook batches left leased: the next sweep takes them when the lease runs out', { batches: left.length, err: (err as Error).message });
    }
  }

  async #storeQueued(signal: AbortSignal): Promise<number> {
    let stored = 0;
    while (this.#queue.length > 0 && !signal.aborted) {
      const pass: Queued[] = [];
      let events = 0;
      while (this.#queue.length > 0 && (pass.length === 0 || events + eventsIn(this.#queue[0]!.batch) <= this.settings.maxEventsPerStore)) {
        const next = this.#queue.shift()!;
        pass.push(next);
        events += eventsIn(next.batch);
      }
      try {
        this.onStored(await this.ingest.store(pass.map((q) => q.batch)));
        await this.batches.remove(pass.map((q) => q.id));
      } catch (err) {
        // Left to the sweep once their lease runs out: the batches are still stored.
        this.logger.error('webhook events could not be stored now: the sweep will retry', { batches: pass.length, err: (err as Error).message });
      }
      stored += pass.length;
    }
    return stored;
  }
}
