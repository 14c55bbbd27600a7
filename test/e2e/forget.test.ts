import { expect } from 'chai';
import { Binary, MongoClient, ObjectId, type Db } from 'mongodb';
import type { Services } from '../../src/app/deps.js';
import { eraseContact, planErasure } from '../../src/app/forget.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast, type BroadcastReport } from '../../src/app/publish.js';
import { JOBS_COLLECTION } from '../../src/app/scheduler.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { DELIVERIES } from '../../src/store/delivery-repository.js';
import { loadPseudonymKey, pseudonym } from '../../src/store/pseudonyms.js';
import { SUPPRESSIONS } from '../../src/store/suppression-repository.js';
import { captureLogger } from '../support/test-config.js';
import { testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const DATA = { date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 };
const OPTED_OUT = '+4915120000001';
const SUBSCRIBED = '+4915120000002';
const OTHER = '+4915120000003';

/** A document as text, binary bodies (webhook batches) included, to search for a number in any form. */
function serialize(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Binary) return Buffer.from(v.buffer).toString('utf8');
    if (v instanceof ObjectId) return v.toHexString();
    return v;
  });
}

/** Every document of every collection that holds one of `needles`: collection → how many. */
async function traces(db: Db, needles: readonly string[]): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const { name } of await db.listCollections().toArray()) {
    for await (const doc of db.collection(name).find()) {
      const text = serialize(doc);
      if (needles.some((n) => text.includes(n))) found[name] = (found[name] ?? 0) + 1;
    }
  }
  return found;
}

/** The parts of a broadcast's report that statistics are made of. */
const statistics = (r: BroadcastReport) => ({ deliveries: r.deliveries, byKind: r.byKind, reasons: r.reasons, cost: r.cost, estimate: r.estimate });

/**
 * `forget` against what a worker really stores about a contact: their conversation with the bot
 * through the built-in sandbox (inbound messages, claims, replies and their statuses, consent),
 * a broadcast sent to them (a delivery record, status webhooks with its callback data, the
 * sandbox's messages and windows), a STOP (the suppression record), a batch bounded by their key.
 */
describe('npm run forget: no trace of the number anywhere, suppression kept, broadcast totals right', function () {
  this.timeout(120_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000', FANOUT_BATCH_SIZE: '1', WHATSAPP_API_BASE: '' }, new Date('2026-11-20T12:00:00Z'));
  let client: MongoClient;
  let db: Db;
  let services: Services;
  let broadcastId: string;
  let totalsBefore: BroadcastReport;
  let pseudonymKey: Buffer;
  const options = { sandboxInDatabase: true, jobsCollection: JOBS_COLLECTION };

  const needlesOf = (phone: string) => [phone, phone.slice(1), phone.slice(3), pseudonym(pseudonymKey, phone), pseudonym(pseudonymKey, phone.slice(1))];

  before(async () => {
    const deps = (): Services => h.worker.deps;
    for (const phone of [OPTED_OUT, SUBSCRIBED, OTHER]) {
      const at = Math.floor((h.clock.now().getTime() - 3_600_000) / 1000);
      await h.sandbox.inbound({ from: phone.slice(1), text: 'Fallzahlen', timestamp: at });
      await h.sandbox.inbound({ from: phone.slice(1), button: { id: 'yes:fallzahlen', title: 'Ja' }, timestamp: at + 1 });
      await waitFor(`${phone} to be subscribed`, async () => (await deps().contacts.get(phone))?.subscriptions.fallzahlen?.state === 'subscribed');
    }
    const prepared = prepareBroadcast(deps(), { topic: 'fallzahlen', data: DATA, key: 'forget-test' });
    const { broadcast } = await createBroadcast(deps(), prepared, await planBroadcast(deps(), prepared, h.clock.now()), h.clock.now());
    broadcastId = broadcast.id;
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId }, 'broadcastId', h.clock.now());
    await waitFor('the broadcast to be delivered to all three', async () => {
      const report = await broadcastReport(deps(), broadcastId);
      return report.status === 'done' && (report.deliveries.delivered ?? 0) + (report.deliveries.read ?? 0) === 3;
    }, 60_000, 100);
    await h.sandbox.inbound({ from: OPTED_OUT.slice(1), text: 'STOP' });
    await waitFor('the STOP to be handled', async () => (await deps().suppressions.isSuppressed(OPTED_OUT)) && (await deps().events.countInbound({ state: 'new' })) === 0);
    const dbName = deps().config.database.name;
    await h.worker.stop(); // an operator forgets with the workers stopped; the sandbox's state stays in the database
    client = new MongoClient(testServer().uri);
    db = client.db(dbName);
    const config = { ...h.worker.deps.config, whatsapp: { ...h.worker.deps.config.whatsapp, apiBase: undefined } };
    services = buildServices(config, captureLogger('warn').logger, new ManualClock(h.clock.now()), db, loadContentConfig(config));
    pseudonymKey = await loadPseudonymKey(db);
    totalsBefore = await broadcastReport(services, broadcastId);
  });
  after(async () => {
    await client?.close();
  });

  it('the contact who opted out: every collection searched, nothing names them; the suppression stays; totals unchanged', async () => {
    const found = await traces(db, needlesOf(OPTED_OUT));
    // What the worker stored about them (and the sandbox, in this database): the test data is real.
    expect(Object.keys(found)).to.include.members([CONTACTS, DELIVERIES, 'inbound_messages', 'inbound_claims', 'status_events', 'sandbox_messages', 'sandbox_windows']);
    const suppression = await services.suppressions.find(OPTED_OUT);

    const plan = await planErasure(services, options, { kind: 'phone', phone: OPTED_OUT });
    expect(plan.found).to.deep.include({ contacts: 1, deliveries: 1 });
    const result = await eraseContact(services, options, plan, h.clock.now());
    expect(result.removed).to.deep.include({ contacts: 1, deliveries: 1 });
    expect(result.suppression).to.deep.equal({ state: 'kept', ...suppression });

    expect(await traces(db, needlesOf(OPTED_OUT))).to.deep.equal({});
    expect(await services.suppressions.find(OPTED_OUT)).to.deep.equal(suppression);
    expect(statistics(await broadcastReport(services, broadcastId))).to.deep.equal(statistics(totalsBefore));
    expect(Object.keys(await traces(db, needlesOf(OTHER)))).to.include.members([CONTACTS, DELIVERIES, 'inbound_messages']); // the others are untouched
  });

  it('a subscriber who never opted out: gone, an erased suppression keeps old lists from importing them; run again, nothing is left to find', async () => {
    const plan = await planErasure(services, options, { kind: 'phone', phone: SUBSCRIBED });
    const result = await eraseContact(services, options, plan, h.clock.now());
    expect(result.suppression).to.deep.include({ state: 'written', reason: 'erased' });
    expect(await traces(db, needlesOf(SUBSCRIBED))).to.deep.equal({});
    // Kept under each name of the person: the number and the user id the webhooks showed.
    expect(await db.collection(SUPPRESSIONS).countDocuments({ reason: 'erased' })).to.equal(2);
    expect(await services.suppressions.find(SUBSCRIBED)).to.deep.include({ reason: 'erased' });
    expect(statistics(await broadcastReport(services, broadcastId))).to.deep.equal(statistics(totalsBefore));
    expect((await planErasure(services, options, { kind: 'phone', phone: SUBSCRIBED })).found).to.deep.equal({});
  });
});
