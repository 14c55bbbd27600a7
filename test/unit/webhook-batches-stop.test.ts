import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { WebhookBatches } from '../../src/app/webhook-batches.js';
import type { ScreenedBatch, StoreSummary, WebhookIngest } from '../../src/app/webhook-ingest.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { WebhookBatchRepository } from '../../src/store/webhook-batch-repository.js';
import type { ParsedWebhook } from '../../src/whatsapp/webhook-parser.js';
import { captureLogger } from '../support/test-config.js';

/**
 * A worker that stops closes its HTTP server first, which cuts the connections of POSTs still
 * being written, then stops storing, then closes the database. Storing must not stop before
 * those writes are done, or they fail with "client was closed" and only the sender's retry
 * brings their events back (Meta's retries take minutes to hours).
 */
describe('WebhookBatches: stopping while POSTs are being written', () => {
  const parsed = {} as ParsedWebhook;
  const screened = (statusesOnly: boolean): ScreenedBatch => ({
    messages: statusesOnly ? [] : [{} as ScreenedBatch['messages'][number]], statuses: [], preferences: [], identityChanges: [], rejected: [], digest: 'd', otherNumber: 0, futureTimestamps: 0,
  });

  function setup(statusesOnly: boolean) {
    const written: string[] = [];
    const released: string[] = [];
    const removed: string[] = [];
    const repository = {
      async add() {
        await sleep(200);
        written.push('raw batch');
        return 'batch-1';
      },
      async release(ids: readonly string[]) {
        released.push(...ids);
      },
      async remove(ids: readonly string[]) {
        removed.push(...ids);
      },
    } as unknown as WebhookBatchRepository;
    const ingest = {
      screen: () => screened(statusesOnly),
      statusesOnly: (batch: ScreenedBatch) => batch.messages.length === 0,
      async storeStatuses() {
        await sleep(200);
        written.push('status events');
        return 1;
      },
      async store(): Promise<StoreSummary> {
        written.push('its events');
        return { messages: 1 } as StoreSummary;
      },
    } as unknown as WebhookIngest;
    const batches = new WebhookBatches(repository, ingest, new ManualClock(new Date('2026-11-23T12:00:00Z')), captureLogger('error').logger, { leaseMs: 60_000, maxEventsPerStore: 1000 }, () => undefined);
    return { batches, written, released, removed };
  }

  it('a POST of statuses: stop() returns once its status events are written', async () => {
    const { batches, written } = setup(true);
    const receiving = batches.receive(Buffer.from('{}'), parsed);
    await batches.stop();
    expect(written).to.deep.equal(['status events']);
    await receiving;
  });

  it('a POST with a message: stop() returns once its raw batch is written, and the pass it started has stored its events', async () => {
    const { batches, written, released, removed } = setup(false);
    const receiving = batches.receive(Buffer.from('{}'), parsed);
    await batches.stop();
    expect(written).to.deep.equal(['raw batch', 'its events']);
    expect(removed, 'the raw copy, once its events are stored').to.deep.equal(['batch-1']);
    expect(released, 'nothing left leased for the next start').to.deep.equal([]);
    await receiving;
  });
});
