import { expect } from 'chai';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { StatusApplier } from '../../src/app/status-applier.js';
import { ManualClock } from '../../src/domain/clock.js';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { DeliveryRepository, type StatusUpdate } from '../../src/store/delivery-repository.js';
import { WebhookEventRepository } from '../../src/store/webhook-event-repository.js';
import { captureLogger } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';

/**
 * Status webhooks move deliveries forward. A pass of statuses whose deliveries are all there is
 * one bulk write; the deliveries are read only for a failed status (the 131047 path needs the
 * kind of message) or when a status finds no delivery (it then waits for it).
 */
describe('applying status webhooks to deliveries', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const T = new Date('2026-11-23T12:00:00Z');
  let client: MongoClient;
  let deliveries: DeliveryRepository;
  const commands: CommandStartedEvent[] = [];
  const seen = () => commands.splice(0).map((c) => `${c.commandName} ${String(c.command[c.commandName])}`);

  before(async () => {
    client = new MongoClient(database.uri, { monitorCommands: true });
    client.on('commandStarted', (event) => commands.push(event));
    deliveries = new DeliveryRepository((await client.connect()).db(database.name));
  });
  after(() => client.close());

  /** Deliveries of broadcast `b`, claimed and sent (wamid `wamid.<key>`). */
  const sent = async (b: string, keys: readonly string[], kind: 'session' | 'template' = 'template') => {
    const ids: string[] = [];
    for (const key of keys) {
      await deliveries.claim(b, key, kind, 0.05, T, undefined);
      const id = await deliveries.idOf(b, key);
      await deliveries.markSent(id, `wamid.${key}`, T);
      ids.push(id);
    }
    seen();
    return ids;
  };

  it('statuses of deliveries that are there: one bulk write, each found and moved forward only', async () => {
    const [a, b, c] = await sent('b1', ['+4915100000001', '+4915100000002', '+4915100000003']);
    const outcomes = await deliveries.applyStatuses([
      { id: a as string, wamid: 'wamid.+4915100000001', status: 'read' },
      { id: b as string, wamid: 'wamid.+4915100000002', status: 'delivered', pricing: { billable: true, category: 'marketing' } },
      { wamid: 'wamid.+4915100000003', status: 'delivered' },
    ], T);
    expect(outcomes).to.deep.equal([{ found: true }, { found: true }, { found: true }]);
    expect(seen()).to.deep.equal(['update deliveries']);
    expect((await deliveries.get(a as string))?.state).to.equal('read');
    expect(await deliveries.get(b as string)).to.deep.include({ state: 'delivered', pricing: { billable: true, category: 'marketing' } });
    expect((await deliveries.get(c as string))?.state).to.equal('delivered');

    // A late `delivered` after `read` changes nothing.
    expect(await deliveries.applyStatuses([{ id: a as string, wamid: 'wamid.+4915100000001', status: 'delivered' }], T)).to.deep.equal([{ found: true }]);
    expect((await deliveries.get(a as string))?.state).to.equal('read');
  });

  it('a status whose delivery is not there is reported so (it waits); the others of its pass are applied', async () => {
    const [a] = await sent('b2', ['+4915100000011']);
    const outcomes = await deliveries.applyStatuses([
      { id: 'dl:b2:nobody', wamid: 'wamid.unknown', status: 'delivered' },
      { id: a as string, wamid: 'wamid.+4915100000011', status: 'delivered' },
      { wamid: 'wamid.also-unknown', status: 'read' },
    ], T);
    expect(outcomes).to.deep.equal([{ found: false }, { found: true }, { found: false }]);
    expect((await deliveries.get(a as string))?.state).to.equal('delivered');
    expect(await client.db(database.name).collection('deliveries').countDocuments({ wamid: { $in: ['wamid.unknown', 'wamid.also-unknown'] } })).to.equal(0);
  });

  it('a failed status gets its delivery as it was before (a refused session message goes again as a template)', async () => {
    const [a, b] = await sent('b3', ['+4915100000021', '+4915100000022'], 'session');
    const outcomes = await deliveries.applyStatuses([
      { id: a as string, wamid: 'wamid.+4915100000021', status: 'failed', errorCode: '131047', reason: 'Re-engagement message' },
      { id: b as string, wamid: 'wamid.+4915100000022', status: 'read' },
    ], T);
    expect(outcomes[0]).to.deep.include({ found: true });
    expect(outcomes[0]?.found && outcomes[0].delivery).to.deep.include({ id: a, broadcastId: 'b3', contactKey: '+4915100000021', kind: 'session', state: 'sent' });
    expect(outcomes[1]).to.deep.equal({ found: true });
    expect(await deliveries.get(a as string)).to.deep.include({ state: 'failed', errorCode: '131047' });
    expect(await deliveries.requeueForTemplate(a as string, T)).to.equal(true);
  });

  it('statuses that come in while a pass is being written wait for the next gathering, not one write each', async () => {
    const ids = await sent('b4', ['+4915100000031', '+4915100000032', '+4915100000033', '+4915100000034']);
    const db = client.db(database.name);
    const events = new WebhookEventRepository(db);
    // Each pass's write waits for the test's go, so that statuses arrive while it is under way.
    const passes: { size: number; startedAt: number; endedAt?: number }[] = [];
    let release: () => void = () => {};
    const gated = Object.create(deliveries) as DeliveryRepository;
    gated.applyStatuses = async (items: readonly StatusUpdate[], now: Date) => {
      const pass: (typeof passes)[number] = { size: items.length, startedAt: performance.now() };
      passes.push(pass);
      if (passes.length === 1) await new Promise<void>((resolve) => { release = resolve; });
      const outcome = await deliveries.applyStatuses(items, now);
      pass.endedAt = performance.now();
      return outcome;
    };
    const applier = new StatusApplier({ events, deliveries: gated, broadcasts: new BroadcastRepository(db), queue: { scheduleBatch: async () => undefined }, clock: new ManualClock(T), logger: captureLogger('error').logger });
    const stored = await Promise.all(ids.map((id, index) => events.addStatuses([{ type: 'status', wabaId: 'waba', phoneNumberId: 'phone-number', id: `wamid.+491510000003${index + 1}`, status: 'delivered', timestamp: T, callbackData: id }], T)));
    const arrive = (index: number) => applier.accept(stored[index] ?? []);
    arrive(0);
    while (passes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    arrive(1);
    arrive(2);
    release();
    while (passes[0]?.endedAt === undefined) await new Promise((resolve) => setImmediate(resolve));
    arrive(3); // right after the first write, before its pass is over
    await applier.idle();

    expect(passes.map((p) => p.size)).to.deep.equal([1, 3]);
    // The second pass waited its gathering time (50 ms) after the first, and took the status that came meanwhile.
    expect((passes[1]?.startedAt ?? 0) - (passes[0]?.endedAt ?? 0)).to.be.at.least(40);
    for (const id of ids) expect((await deliveries.get(id))?.state).to.equal('delivered');
    expect(await events.unappliedStatuses(10)).to.deep.equal([]);
  });
});
