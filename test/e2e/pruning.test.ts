import { expect } from 'chai';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { seedSubscribers } from '../support/seed.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const DAY = 24 * 3600_000;
const DATA = { date: '2026-01-05T09:00:00Z', cases: 12345, new_cases: 67 };

describe('pruning end to end: silent subscribers leave the list, get nothing more, can come back', function () {
  this.timeout(90_000);
  // Agenda schedules on the real clock: the manual clock stays in the past, 32 days on included.
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, new Date('2026-01-05T12:00:00Z'));
  const deps = () => h.worker.deps;
  const sentTo = (phone: string) => h.sandbox.messages({ to: phone.slice(1) });
  const subscription = async (phone: string) => (await deps().contacts.get(phone))?.subscriptions.fallzahlen;

  const silent = '+4915130000001'; // subscribes, gets a session broadcast and two templates, then says nothing for 31 days
  const unanswering = '+4915130000002'; // imported, three templates unanswered
  const quiet = '+4915130000003'; // imported 40 days ago, never sent anything since
  let cases = 0;

  async function publishAndRun(): Promise<{ skipped: Record<string, number>; deliveries: Record<string, number> }> {
    cases += 1;
    const prepared = prepareBroadcast(deps(), { topic: 'fallzahlen', data: { ...DATA, new_cases: cases } });
    const plan = await planBroadcast(deps(), prepared, h.clock.now());
    const { broadcast } = await createBroadcast(deps(), prepared, plan, h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    const report = await waitFor('the broadcast to finish', async () => {
      const r = await broadcastReport(deps(), broadcast.id);
      return r.status === 'done' ? r : undefined;
    }, 40_000, 100);
    return { skipped: plan.skipped, deliveries: report.deliveries };
  }

  before(async () => {
    await h.sandbox.inbound({ from: silent.slice(1), text: 'Fallzahlen' });
    await h.sandbox.inbound({ from: silent.slice(1), button: { id: 'yes:fallzahlen', title: 'Ja' } });
    await waitFor('the first subscriber', async () => (await subscription(silent))?.state === 'subscribed');
    await seedSubscribers(deps().db, { count: 1, from: 30000002, prefix: '49151', now: h.clock.now() });
  });

  it('three templates unanswered: the hourly job removes the subscriber, says why in the record, the log and the metric', async () => {
    h.clock.advance(60_000);
    await publishAndRun(); // silent: session (window open); unanswering: template
    for (let i = 0; i < 2; i += 1) {
      h.clock.advance(DAY);
      await publishAndRun(); // both: template
    }
    expect(sentTo(unanswering).map((m) => m.type)).to.deep.equal(['template', 'template', 'template']);

    await h.worker.scheduler.agenda.now('prune-subscribers', {});
    await waitFor('the job to prune', async () => (await subscription(unanswering))?.state === 'unsubscribed', 20_000);
    expect(await subscription(unanswering)).to.deep.include({ source: 'prune', reason: 'unanswered-templates', changedAt: h.clock.now() });
    expect((await deps().contacts.get(unanswering))?.status).to.equal('lapsed');
    expect((await subscription(silent))?.state, 'two templates, two days: within both limits').to.equal('subscribed');
    const line = await waitFor('the log line', () => h.logLines.find((l) => l.includes('pruning pass') && l.includes('"total":1')));
    expect(JSON.parse(line)).to.deep.include({ removed: { fallzahlen: { 'unanswered-templates': 1 } } });
  });

  it('silent past PRUNE_AFTER_DAYS after being sent something: removed; never contacted: kept; a second pass removes nobody', async () => {
    h.clock.advance(29 * DAY); // 31 days since the first subscriber last wrote
    await seedSubscribers(deps().db, { count: 1, from: 30000003, prefix: '49151', now: new Date(h.clock.now().getTime() - 40 * DAY), lastInboundAt: new Date(h.clock.now().getTime() - 40 * DAY) });

    const first = await deps().pruner.prune(h.clock.now());
    expect(first.removed).to.deep.equal({ fallzahlen: { 'no-reply': 1 } });
    const pruned = await subscription(silent);
    expect(pruned).to.deep.include({ state: 'unsubscribed', source: 'prune', reason: 'no-reply', changedAt: h.clock.now() });
    expect(pruned?.consent?.source, 'the consent stays as evidence').to.equal('button');
    expect((await deps().contacts.get(silent))?.status).to.equal('lapsed');
    expect((await subscription(quiet))?.state, 'never sent anything since their last reply').to.equal('subscribed');

    expect(await deps().pruner.prune(h.clock.now())).to.deep.include({ removed: {}, total: 0 });

    const metrics = await (await fetch(`${h.worker.url}/metrics`)).text();
    expect(metrics).to.include('optin_contacts_pruned_total{topic="fallzahlen",reason="no-reply"} 1');
    expect(metrics).to.include('optin_contacts_pruned_total{topic="fallzahlen",reason="unanswered-templates"} 1');
    expect(metrics).to.include('optin_subscribers{topic="fallzahlen",state="lapsed"} 2');
    expect(metrics).to.include('optin_subscribers{topic="fallzahlen",state="active_window_closed"} 1');
  });

  it('the next broadcast skips the pruned (counted as pruned in its plan) and reaches the rest', async () => {
    const before = { silent: sentTo(silent).length, unanswering: sentTo(unanswering).length };
    const { skipped, deliveries } = await publishAndRun();
    expect(skipped).to.deep.equal({ pruned: 2 });
    expect(Object.values(deliveries).reduce((a, b) => a + b, 0), 'one delivery: the subscriber kept').to.equal(1);
    expect(sentTo(quiet).map((m) => m.type)).to.deep.equal(['template']);
    expect(sentTo(silent), 'nothing more to the silent subscriber').to.have.length(before.silent);
    expect(sentTo(unanswering), 'nothing more to the unanswering one').to.have.length(before.unanswering);
  });

  it('the keyword subscribes a pruned contact again, and they are active again', async () => {
    h.clock.advance(60_000);
    const before = sentTo(silent).length;
    await h.sandbox.inbound({ from: silent.slice(1), text: 'Fallzahlen' });
    await waitFor('the consent question', () => sentTo(silent).length === before + 1);
    expect((await deps().contacts.get(silent))?.status, 'writing again ends lapsed').to.equal('active');
    await h.sandbox.inbound({ from: silent.slice(1), button: { id: 'yes:fallzahlen', title: 'Ja' } });
    await waitFor('subscribed again', async () => (await subscription(silent))?.state === 'subscribed');
    const again = await subscription(silent);
    expect(again).to.deep.include({ source: 'button' });
    expect(again?.reason).to.equal(undefined);
    expect(await deps().contacts.countPruned('fallzahlen')).to.equal(1);
  });
});
