import { expect } from 'chai';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import type { Services } from '../../src/app/deps.js';
import { seedSubscribers } from '../support/seed.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const HOUR = 3600_000;
const DATA = { date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 };

describe('fan-out end to end: session inside the window, template outside, skip with a reason', function () {
  this.timeout(60_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, new Date('2026-11-20T12:00:00Z'));
  const services = (): Services => h.worker.deps;
  const sentTo = (phone: string) => h.sandbox.messages({ to: phone.slice(1) });

  /** A contact subscribes through the conversation, `agoMs` before now. */
  async function subscribe(phone: string, agoMs: number): Promise<void> {
    const at = Math.floor((h.clock.now().getTime() - agoMs) / 1000);
    await h.sandbox.inbound({ from: phone.slice(1), text: 'Fallzahlen', timestamp: at });
    await h.sandbox.inbound({ from: phone.slice(1), button: { id: 'yes:fallzahlen', title: 'Ja' }, timestamp: at + 1 });
    await waitFor(`${phone} to be subscribed`, async () => (await services().contacts.get(phone))?.subscriptions.fallzahlen?.state === 'subscribed');
  }

  async function publish(key: string) {
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: DATA, key });
    const plan = await planBroadcast(services(), prepared, h.clock.now());
    const { broadcast } = await createBroadcast(services(), prepared, plan, h.clock.now());
    return { prepared, plan, broadcast };
  }

  async function runToEnd(broadcastId: string) {
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId }, 'broadcastId', h.clock.now());
    return waitFor('the broadcast to finish', async () => {
      const report = await broadcastReport(services(), broadcastId);
      return report.status === 'done' ? report : undefined;
    }, 40_000, 100);
  }

  const inside = '+4915110000001';
  const edge = '+4915110000002';
  const outside = '+4915110000003';
  const pending = '+4915110000004';
  const suppressed = '+4915110000005';
  const late = '+4915110000006';

  before(async () => {
    await subscribe(inside, 1 * HOUR);
    await subscribe(edge, 24 * HOUR - 30_000); // closes in 30 s: inside the 60 s safety margin
    await seedSubscribers(h.worker.deps.db, { count: 1, from: 10000003, lastInboundAt: new Date(h.clock.now().getTime() - 25 * HOUR) });
    await seedSubscribers(h.worker.deps.db, { count: 1, from: 10000004, state: 'pending' });
    await seedSubscribers(h.worker.deps.db, { count: 1, from: 10000005 });
    await h.worker.deps.suppressions.suppress(suppressed, 'opt-out', h.clock.now());
    await seedSubscribers(h.worker.deps.db, { count: 1, from: 10000006, lastInboundAt: new Date(h.clock.now().getTime() - 30 * HOUR) });
  });

  it('the dry run counts what the real run then does, and the run sends each the cheapest allowed way', async () => {
    const { plan, broadcast, prepared } = await publish('window-states');
    expect(plan).to.deep.include({ session: 1, template: 3, skipped: { 'pending-consent': 1, suppressed: 1 } });
    expect(prepared.content.sessionText).to.include('12.345 bestätigte Fälle (67 neu)');
    expect(prepared.content.sessionText).to.include('vom 20.11.2026');

    const before = { inside: sentTo(inside).length, edge: sentTo(edge).length };
    const report = await runToEnd(broadcast.id);
    // Status webhooks may already have moved some of the four on to delivered or read.
    const states = report.deliveries as Record<string, number>;
    expect(Object.keys(states).filter((state) => !['sent', 'delivered', 'read', 'skipped'].includes(state)), 'other states').to.deep.equal([]);
    expect((states.sent ?? 0) + (states.delivered ?? 0) + (states.read ?? 0), 'sent or further').to.equal(4);
    expect(states.skipped).to.equal(2);
    expect(report.byKind).to.deep.equal({ session: 1, template: 3 });
    expect(report.reasons).to.deep.equal({ 'pending-consent': 1, suppressed: 1 });

    expect(sentTo(inside).slice(before.inside).map((m) => m.type)).to.deep.equal(['text']);
    expect(sentTo(inside).at(-1)?.body).to.include('12.345');
    expect(sentTo(edge).slice(before.edge).map((m) => [m.type, m.templateName])).to.deep.equal([['template', 'daily_update']]);
    expect(sentTo(outside).map((m) => m.type)).to.deep.equal(['template']);
    expect(sentTo(pending)).to.have.length(0);
    expect(sentTo(suppressed)).to.have.length(0);
    expect(sentTo(outside)[0]?.callbackData).to.equal(await services().deliveries.idOf(broadcast.id, outside));
  });

  it('publishing the same content again creates no second broadcast', async () => {
    const first = await publish('window-states');
    expect(first.broadcast.status).to.equal('done');
    const again = await createBroadcast(services(), first.prepared, first.plan, h.clock.now());
    expect(again.created).to.equal(false);
    expect(again.broadcast.id).to.equal(first.broadcast.id);
  });

  it('decides at send time: a contact who writes after publishing gets the free session message', async () => {
    const { broadcast, plan } = await publish('late-reply');
    expect(plan.template).to.be.greaterThan(0);
    // After the plan said "template", the contact writes: the window opens before the send.
    await h.sandbox.inbound({ from: late.slice(1), text: 'Hallo' });
    await waitFor('the reply to open the window', async () => (await services().contacts.get(late))?.lastInboundAt?.getTime() === Math.floor(h.clock.now().getTime() / 1000) * 1000);
    await runToEnd(broadcast.id);
    const delivery = await services().deliveries.get(await services().deliveries.idOf(broadcast.id, late));
    expect(delivery?.kind).to.equal('session');
    expect(sentTo(late).filter((m) => m.type === 'text' && m.body.includes('12.345'))).to.have.length(1);
  });

  it('status webhooks move deliveries forward and record the pricing Meta reports', async () => {
    const { broadcast } = await publish('statuses');
    await runToEnd(broadcast.id);
    const id = await services().deliveries.idOf(broadcast.id, outside);
    const delivery = await waitFor('a delivered or read status with pricing', async () => {
      const d = await services().deliveries.get(id);
      return d && (d.state === 'delivered' || d.state === 'read') && d.pricing ? d : undefined;
    }, 20_000);
    expect(delivery.pricing?.category).to.be.a('string');
    await waitFor('pricing on every sent message', async () => {
      const rows = await h.worker.deps.db.collection('deliveries').find({ broadcastId: broadcast.id, state: { $ne: 'skipped' } }).toArray();
      return rows.length === 4 && rows.every((r) => r.pricing);
    }, 20_000);
    const report = await broadcastReport(services(), broadcast.id);
    expect(report.byKind).to.deep.equal({ session: 2, template: 2 }); // the late writer is inside the window now
    // The rate card charges messages inside the window at the utility rate since 2026-10-01, and
    // the sandbox reports by the same dated rules: every message is billable, and what Meta
    // reports is what was estimated.
    expect(report.cost.estimated).to.be.closeTo(4 * 0.0456, 1e-9);
    expect(report.cost.billableMessages).to.equal(4);
    expect(report.cost.reported).to.be.closeTo(report.cost.estimated, 1e-9);
  });
});
