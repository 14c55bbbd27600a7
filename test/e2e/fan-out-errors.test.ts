import { expect } from 'chai';
import type { Services } from '../../src/app/deps.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast, resumeBroadcast } from '../../src/app/publish.js';
import { seedSubscribers } from '../support/seed.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const DATA = { date: '2026-11-20T09:00:00Z', cases: 500, new_cases: 5 };

describe('fan-out under provider errors', function () {
  this.timeout(90_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000', FANOUT_BATCH_SIZE: '25' }, new Date('2026-11-20T12:00:00Z'));
  const services = (): Services => h.worker.deps;
  const queue = () => ({ scheduleBatch: (batchId: string, at: Date) => h.worker.scheduler.scheduleUnique('fan-out-batch', { batchId }, 'batchId', at) });

  async function start(key: string) {
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: { ...DATA, cases: DATA.cases + key.length }, key });
    const { broadcast } = await createBroadcast(services(), prepared, await planBroadcast(services(), prepared, h.clock.now()), h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    return broadcast.id;
  }
  /** Waits for a status; the app's clock moves on 1 s per poll, so retries come due. */
  const until = (id: string, status: string, timeoutMs = 30_000) =>
    waitFor(`broadcast ${id} to be ${status}`, async () => {
      h.clock.advance(1000);
      const report = await broadcastReport(services(), id);
      return report.status === status ? report : undefined;
    }, timeoutMs, 100);

  /** A subscriber inside the window, through the sandbox (so the sandbox knows the window too). */
  async function windowOpen(phone: string): Promise<void> {
    await seedSubscribers(h.worker.deps.db, { count: 1, from: Number(phone.slice(6)) });
    await h.sandbox.inbound({ from: phone.slice(1), text: 'ok' });
    await waitFor('the window to open', async () => (await services().contacts.get(phone))?.lastInboundAt !== undefined);
    await h.worker.deps.inbound.idle();
  }

  afterEach(() => h.sandbox.reset());

  it('131047 on the session message: the template goes instead, once', async () => {
    const phone = '+4915120000001';
    await windowOpen(phone);
    h.sandbox.setContact({ phone, forceError: { code: 131047, times: 1, via: 'response' } });
    const id = await start('fallback-response');
    const idOf = await services().deliveries.ids();
    const report = await until(id, 'done');
    const delivery = await services().deliveries.get(idOf(id, phone));
    expect(delivery).to.deep.include({ kind: 'template', sessionRefused: true });
    expect((report.deliveries.sent ?? 0) + (report.deliveries.delivered ?? 0) + (report.deliveries.read ?? 0)).to.equal(1);
    const accepted = h.sandbox.messages({ to: phone.slice(1) }).filter((m) => m.callbackData === idOf(id, phone));
    expect(accepted.map((m) => m.type)).to.deep.equal(['template']);
  });

  it('131047 arriving later as a failed status webhook: the template goes instead, once', async () => {
    const phone = '+4915120000002';
    await windowOpen(phone);
    h.sandbox.setContact({ phone, forceError: { code: 131047, times: 1, via: 'status' } });
    const id = await start('fallback-status');
    const idOf = await services().deliveries.ids();
    await waitFor('the template after the failed status', () => h.sandbox.messages({ to: phone.slice(1) }).filter((m) => m.callbackData === idOf(id, phone)).length === 2, 20_000);
    const accepted = h.sandbox.messages({ to: phone.slice(1) }).filter((m) => m.callbackData === idOf(id, phone));
    expect(accepted.map((m) => m.type)).to.deep.equal(['text', 'template']);
    await until(id, 'done');
    expect((await services().deliveries.get(idOf(id, phone)))?.kind).to.equal('template');
  });

  it('132015 (template paused) pauses the whole broadcast with the reason; resume sends the rest', async () => {
    const phones = await seedSubscribers(h.worker.deps.db, { count: 40, from: 30000000 });
    const first = phones[0] as string;
    h.sandbox.setContact({ phone: first, forceError: { code: 132015, times: 1, via: 'response' } });
    const id = await start('paused');
    const idOf = await services().deliveries.ids();
    const paused = await until(id, 'paused');
    expect(paused.statusReason).to.match(/template-paused \(132015\)/);
    expect(await resumeBroadcast(services(), queue(), id, h.clock.now())).to.be.greaterThan(0);
    const done = await until(id, 'done');
    const sent = phones.map((p) => h.sandbox.messages({ to: p.slice(1) }).filter((m) => m.callbackData === idOf(id, p)).length);
    expect(sent.every((n) => n === 1), `one message each: ${sent.join(',')}`).to.equal(true);
    expect(done.deliveries.failed ?? 0).to.equal(0);
  });

  it('130429 (throughput) slows everyone down and loses no message', async () => {
    const phones = await seedSubscribers(h.worker.deps.db, { count: 30, from: 40000000 });
    for (const phone of phones.slice(0, 5)) h.sandbox.setContact({ phone, forceError: { code: 130429, times: 1, via: 'response' } });
    const id = await start('throughput');
    const idOf = await services().deliveries.ids();
    await until(id, 'done', 60_000);
    for (const phone of phones) {
      const accepted = h.sandbox.messages({ to: phone.slice(1) }).filter((m) => m.callbackData === idOf(id, phone));
      expect(accepted, phone).to.have.length(1);
    }
  });
});
