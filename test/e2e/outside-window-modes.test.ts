import { expect } from 'chai';
import type { Services } from '../../src/app/deps.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { seedSubscribers } from '../support/seed.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker, type WorkerHarness } from '../support/worker-harness.js';

const DATA = { date: '2026-11-20T09:00:00Z', cases: 700, new_cases: 7 };
const NOW = new Date('2026-11-20T12:00:00Z');

/**
 * The worker believes a window is open (the contact wrote an hour ago, as a record carried over
 * from elsewhere says) that the platform does not know: its session message meets 131047. The
 * platform reports that either later, as a failed status webhook (the sandbox's default), or at
 * once (SANDBOX_OUTSIDE_WINDOW=error). Either way the paid template goes instead, once.
 */
function windowDisagreement(h: WorkerHarness, phone: string, refusedAtOnce: boolean): void {
  const services = (): Services => h.worker.deps;

  it('sends the session message, meets 131047 and sends the template instead, once', async () => {
    await seedSubscribers(h.worker.deps.db, { count: 1, from: Number(phone.slice(6)), lastInboundAt: new Date(NOW.getTime() - 60 * 60 * 1000), now: NOW });
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: DATA, key: 'window-disagreement' });
    const plan = await planBroadcast(services(), prepared, h.clock.now());
    expect(plan).to.deep.include({ session: 1, template: 0 });
    const { broadcast } = await createBroadcast(services(), prepared, plan, h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    const idOf = await services().deliveries.ids();
    const id = idOf(broadcast.id, phone);
    const sent = () => h.sandbox.messages({ to: phone.slice(1) }).filter((m) => m.callbackData === id);
    // Refused at once, the session message was never accepted; refused later, it was, and then failed.
    const expected = [...(refusedAtOnce ? [] : [['text', undefined]]), ['template', 'daily_update']];
    await waitFor('the template after the refused session message', () => sent().length === expected.length, 30_000);
    expect(sent().map((m) => [m.type, m.templateName])).to.deep.equal(expected);
    await waitFor('the broadcast to finish', async () => {
      h.clock.advance(1000);
      return (await broadcastReport(services(), broadcast.id)).status === 'done';
    }, 30_000, 100);
    expect(await services().deliveries.get(id)).to.deep.include({ kind: 'template', sessionRefused: true });
    expect(sent(), 'nothing more').to.have.length(expected.length);
  });
}

describe('131047 for a window only the worker believes in', function () {
  this.timeout(90_000);

  describe('as a failed status webhook (the default, as the platform does)', () => {
    const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, NOW);
    it('the sandbox runs with the default', () => expect(h.worker.deps.config.sandbox.outsideWindow).to.equal('failed-status'));
    windowDisagreement(h, '+4915130000001', false);
  });

  describe('as an error answered at once (SANDBOX_OUTSIDE_WINDOW=error)', () => {
    const h = useWorker(`${import.meta.url}-error`, { SEND_RATE_MPS: '1000', SANDBOX_OUTSIDE_WINDOW: 'error' }, NOW);
    windowDisagreement(h, '+4915130000002', true);
  });
});
