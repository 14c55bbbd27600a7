import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { DELIVERIES, DeliveryRepository, TERMINAL_STATES, type DeliveryState } from '../../src/store/delivery-repository.js';
import { BroadcastFleet } from '../support/broadcast-fleet.js';
import { checkExactlyOnce } from '../support/exactly-once-checks.js';
import { seedSubscribers } from '../support/seed.js';
import { StoppableRelay } from '../support/stoppable-relay.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The Cloud API unreachable for a while (connects hang, as when packets are dropped): the
 * requests that timed out never left the worker, so they are retried, and once the API is back
 * everyone gets the update once. Before, each counted as "maybe sent" and ended `unknown`.
 */
describe('fan-out while the Cloud API cannot be reached', function () {
  this.timeout(5 * 60_000);
  let client: MongoClient;
  let fleet: BroadcastFleet | undefined;
  let relay: StoppableRelay | undefined;
  const dbName = testDatabaseName('api-unreachable');

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
  });
  after(async () => {
    relay?.stop();
    await fleet?.close();
    await client.db(dbName).dropDatabase();
    await client.close();
  });

  it('retries the sends that got no connection and delivers each once when it is back; none ends unknown', async () => {
    const db = client.db(dbName);
    const phones = await seedSubscribers(db, { count: 20, from: 62000000 });
    // Generous limits, so that a slow answer once the API is back is not taken for a lost one.
    fleet = await BroadcastFleet.start({ uri: testServer().uri, db: dbName, workers: 1, startWorkers: false, env: { WHATSAPP_TIMEOUT_MS: '2500', DELIVERY_UNKNOWN_AFTER_MS: '30000', JOB_POLL_INTERVAL_MS: '200' } });
    relay = await StoppableRelay.start(Number(new URL(fleet.sandbox.url).port));
    await relay.unreachable();
    fleet.spawn(0, { WHATSAPP_API_BASE: relay.url });
    await fleet.listening();
    const id = await fleet.publish({ date: '2026-11-20T09:00:00Z', cases: 20, new_cases: 1 });

    const deliveries = db.collection<{ broadcastId: string; state: string; reason?: string }>(DELIVERIES);
    await waitFor('sends that timed out without a connection to be waiting for a retry', async () => ((await deliveries.countDocuments({ broadcastId: id, state: 'retrying', reason: /timeout/ })) > 0 ? true : undefined), 120_000, 200);
    expect(await fleet.accepted(id)).to.have.length(0);
    relay.reachable();
    const repository = new DeliveryRepository(db);

    try {
      await waitFor('the broadcast to be done and every delivery reported', async () => {
        const done = (await db.collection(BROADCASTS).findOne({ _id: id as never }))?.status === 'done';
        const { byState } = await repository.totals(id);
        return done && Object.keys(byState).every((state) => TERMINAL_STATES.includes(state as DeliveryState)) ? true : undefined;
      }, 240_000, 250);
    } catch (err) {
      const states = (await repository.totals(id)).byState;
      const broadcast = await db.collection(BROADCASTS).findOne({ _id: id as never });
      throw new Error(`${(err as Error).message}; broadcast ${broadcast?.status}; deliveries ${JSON.stringify(states)}; worker: ${fleet.slots[0]?.lines.filter((l) => /warn|error/.test(l)).slice(-5).join(' | ')}`, { cause: err });
    }
    const accepted = await fleet.accepted(id);
    const report = await checkExactlyOnce(db, id, phones, accepted);
    expect(report.violations).to.deep.equal([]);
    expect(report.deliveries.unknown ?? 0, JSON.stringify(report.deliveries)).to.equal(0);
    expect(new Set(accepted.map((m) => m.to)).size).to.equal(20);
  });
});
