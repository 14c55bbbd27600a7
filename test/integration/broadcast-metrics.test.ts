import { expect } from 'chai';
import { useWorker } from '../support/worker-harness.js';
import { seedSubscribers } from '../support/seed.js';
import { createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { waitFor } from '../support/wait-for.js';

describe('broadcast progress as Prometheus metrics', function () {
  this.timeout(60_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, new Date('2026-11-20T12:00:00Z'));
  // A second worker in the same process: metrics live in each worker's own registry.
  const other = useWorker(import.meta.url, {}, new Date('2026-11-20T12:00:00Z'));

  it('reports deliveries per state, cost and status of recent broadcasts, the same from every worker', async () => {
    await seedSubscribers(h.worker.deps.db, { count: 3, from: 50000000 });
    const prepared = prepareBroadcast(h.worker.deps, { topic: 'fallzahlen', data: { date: '2026-11-20T09:00:00Z', cases: 1, new_cases: 1 } });
    const { broadcast } = await createBroadcast(h.worker.deps, prepared, await planBroadcast(h.worker.deps, prepared, h.clock.now()), h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    const text = await waitFor('the broadcast to show as done', async () => {
      const body = await (await fetch(`${h.worker.url}/metrics`)).text();
      return body.includes(`optin_broadcast_status{broadcast="${broadcast.id}",topic="fallzahlen",status="done"} 1`) ? body : undefined;
    }, 30_000, 200);
    expect(text).to.match(new RegExp(`optin_broadcast_deliveries\\{broadcast="${broadcast.id}",topic="fallzahlen",state="(sent|delivered|read)"\\} \\d`));
    expect(text).to.include(`optin_broadcast_cost{broadcast="${broadcast.id}",topic="fallzahlen",measure="estimated"} 0.1368`);
    expect(text).to.match(/^optin_deliveries_total\{kind="template",outcome="sent"\} 3$/m);
    expect(other.worker.url).not.to.equal(h.worker.url);
  });
});
