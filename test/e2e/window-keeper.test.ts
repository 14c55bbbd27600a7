import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Services } from '../../src/app/deps.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { WindowKeeper } from '../../src/app/window-keeper.js';
import { NUDGES, type NudgeRecord } from '../../src/store/nudge-repository.js';
import { SendPacer } from '../../src/store/send-pacer.js';
import { cloudApiClientFromConfig } from '../../src/whatsapp/cloud-api-client.js';
import { seedSubscribers } from '../support/seed.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker, type WorkerHarness } from '../support/worker-harness.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Subscribes a number through the conversation (Fallzahlen, then Yes) at the harness's time. */
async function subscribe(h: WorkerHarness, waId: string): Promise<Date> {
  await h.sandbox.inbound({ from: waId, text: 'Fallzahlen' });
  await waitFor(`the consent question to ${waId}`, () => h.sandbox.messages({ to: waId }).length === 1);
  const { id } = await h.sandbox.inbound({ from: waId, button: { id: 'yes:fallzahlen', title: 'Ja' } });
  await waitFor(`${waId} to be subscribed`, async () => (await h.worker.deps.contacts.get(`+${waId}`))?.subscriptions.fallzahlen?.state === 'subscribed');
  await waitFor(`the confirmation to ${waId}`, () => h.sandbox.messages({ to: waId }).length === 2);
  expect(id).to.be.a('string');
  return (await h.worker.deps.contacts.get(`+${waId}`))?.lastInboundAt as Date;
}

const nudgesTo = (h: WorkerHarness, waId: string) => h.sandbox.messages({ to: waId }).filter((m) => m.type === 'interactive' && m.body.includes('Noch keine neuen Zahlen'));
const pass = (h: WorkerHarness) => h.worker.deps.keeper.pass(new AbortController().signal);
const records = (h: WorkerHarness, waId: string): Promise<NudgeRecord[]> => h.worker.deps.nudges.byContact(`+${waId}`);

describe('window keeper end to end: the nudge before the window closes', function () {
  this.timeout(120_000);
  // KEEPER_INTERVAL_MS at its longest: the passes here are the test's own, at its clock.
  const h = useWorker(import.meta.url, { KEEPER_POLICY: 'always', KEEPER_INTERVAL_MS: String(HOUR), SANDBOX_OUTSIDE_WINDOW: 'failed-status', SEND_RATE_MPS: '1000' }, new Date('2026-11-10T08:00:00Z'));

  it('one nudge NUDGE_BEFORE_CLOSE_MS before the window closes, with Keep / Stop buttons, and none after', async () => {
    const waId = '4915120000001';
    const opened = await subscribe(h, waId);
    const closes = opened.getTime() + DAY;

    h.clock.set(new Date(closes - 10 * MINUTE));
    const early = await pass(h);
    expect(early.later, 'due later, not yet').to.be.at.least(1);
    expect(nudgesTo(h, waId)).to.have.length(0);

    h.clock.set(new Date(closes - 5 * MINUTE + 1000));
    expect((await pass(h)).sent).to.equal(1);
    const [nudge] = nudgesTo(h, waId);
    expect(nudge?.body).to.include('Möchtest du weiter informiert werden');
    expect(nudge?.buttons?.map((b) => b.id)).to.deep.equal(['keep:fallzahlen', 'stop']);
    const [record] = await records(h, waId);
    expect(record).to.deep.include({ state: 'sent', topic: 'fallzahlen' });
    expect(record?.windowOf.getTime()).to.equal(opened.getTime());
    // Pruning counts a nudge since the last reply as a chance to answer.
    expect([...await h.worker.deps.nudges.nudgedSince([{ contactKey: `+${waId}`, since: opened }])]).to.deep.equal([`+${waId}`]);
    expect(nudge?.callbackData ?? '', 'no phone number in the callback data').not.to.include(waId.slice(2));

    // Later passes in the same window, and after it closed, send nothing more.
    await pass(h);
    h.clock.set(new Date(closes + 10 * MINUTE));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(1);
    expect(await records(h, waId)).to.have.length(1);

    // A message after the nudge's window closed is not an answer to it.
    await h.sandbox.inbound({ from: waId, text: 'Hallo' });
    expect((await records(h, waId))[0]?.repliedAt).to.equal(undefined);
  });

  it('a message from the contact moves the window, and the nudge with it', async () => {
    const waId = '4915120000002';
    const opened = await subscribe(h, waId);
    h.clock.set(new Date(opened.getTime() + 20 * HOUR));
    await h.sandbox.inbound({ from: waId, text: 'Danke' });
    await waitFor('the new window to be recorded', async () => (await h.worker.deps.contacts.get(`+${waId}`))?.lastInboundAt?.getTime() === Math.floor(h.clock.now().getTime() / 1000) * 1000);
    const moved = (await h.worker.deps.contacts.get(`+${waId}`))?.lastInboundAt as Date;

    h.clock.set(new Date(opened.getTime() + DAY - 4 * MINUTE));
    await pass(h);
    expect(nudgesTo(h, waId), 'no nudge when the first window would have closed').to.have.length(0);

    h.clock.set(new Date(moved.getTime() + DAY - 4 * MINUTE));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(1);
    expect((await records(h, waId)).map((r) => r.windowOf.getTime())).to.deep.equal([moved.getTime()]);
  });

  it('"Keep" opens a new window: counted as a reply, and the next broadcast goes as a session message', async () => {
    const waId = '4915120000003';
    const opened = await subscribe(h, waId);
    h.clock.set(new Date(opened.getTime() + DAY - 5 * MINUTE + 1000));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(1);

    h.clock.advance(MINUTE);
    await h.sandbox.inbound({ from: waId, button: { id: 'keep:fallzahlen', title: 'Ja, weiter' } });
    await waitFor('the reply to be counted', async () => (await records(h, waId))[0]?.repliedAt !== undefined);
    await h.worker.deps.inbound.idle();
    const contact = await h.worker.deps.contacts.get(`+${waId}`);
    expect(contact?.subscriptions.fallzahlen?.state).to.equal('subscribed');

    // The old window has closed; the new one is open: the broadcast is a session message.
    h.clock.advance(2 * HOUR);
    const services = (): Services => h.worker.deps;
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: { date: '2026-11-21T09:00:00Z', cases: 100, new_cases: 1 }, key: 'after-keep' });
    const plan = await planBroadcast(services(), prepared, h.clock.now());
    const { broadcast } = await createBroadcast(services(), prepared, plan, h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    await waitFor('the broadcast to finish', async () => (await broadcastReport(services(), broadcast.id)).status === 'done', 60_000, 100).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await broadcastReport(services(), broadcast.id))} ${h.logLines.slice(-15).join('\n')}`);
    });
    const news = h.sandbox.messages({ to: waId }).at(-1);
    expect(news?.type).to.equal('text');
    expect(news?.body).to.include('100');
  });

  it('two keepers passing at once, and a worker that died after its claim, never make two nudges in one window', async () => {
    const now = h.clock.now();
    const count = 40;
    // Windows that close in 4 minutes: every one is due.
    const phones = await seedSubscribers(h.worker.deps.db, { count, from: 30_000_000, lastInboundAt: new Date(now.getTime() - DAY + 4 * MINUTE), now });
    // One was claimed by a worker that died before its request: that window gets no nudge.
    const dead = phones[0] as string;
    await h.worker.deps.nudges.claim({ contactKey: dead, windowOf: new Date(now.getTime() - DAY + 4 * MINUTE), topic: 'fallzahlen', state: 'claimed' }, now);

    // A second worker's keeper: its own client and pacer, the same database.
    const { config, db, logger } = h.worker.deps;
    const other = new WindowKeeper({
      ...h.worker.deps,
      messenger: cloudApiClientFromConfig(config.whatsapp, logger, h.sandbox.url),
      pacer: new SendPacer(db, config.sendRateMps),
      settings: { ...config.keeper, safetyMarginMs: config.fanOut.safetyMarginMs, timeZone: config.timezone, concurrency: 8, slotsPerReservation: 10 },
    });
    const [a, b] = await Promise.all([pass(h), other.pass(new AbortController().signal)]);
    expect(a.sent + b.sent).to.be.at.least(count - 1);
    for (const phone of phones) {
      expect(nudgesTo(h, phone.slice(1)), phone === dead ? 'the dead claim' : phone).to.have.length(phone === dead ? 0 : 1);
    }
    expect(await h.worker.deps.db.collection(NUDGES).countDocuments({ contactKey: { $in: phones } })).to.equal(count);
  });

  it('a nudge the platform refuses later (131047 by status webhook) is recorded failed, never turned into a template', async () => {
    const now = h.clock.now();
    // The sandbox never saw this contact write: it accepts the nudge, then fails it by status.
    const [phone] = await seedSubscribers(h.worker.deps.db, { count: 1, from: 31_000_000, lastInboundAt: new Date(now.getTime() - DAY + 4 * MINUTE), now });
    const waId = (phone as string).slice(1);
    expect((await pass(h)).sent).to.be.at.least(1);
    await waitFor('the failed status to be applied', async () => (await records(h, waId))[0]?.state === 'failed', 30_000);
    expect((await records(h, waId))[0]?.errorCode).to.equal('131047');
    await pass(h);
    expect(h.sandbox.messages({ to: waId }).filter((m) => m.type === 'template')).to.have.length(0);
    expect(h.sandbox.messages({ to: waId })).to.have.length(1);
  });
});

describe('window keeper: quiet hours across the spring-forward night (Europe/Berlin)', function () {
  this.timeout(60_000);
  // The window opens 2026-03-28 02:30 CET and closes 2026-03-29 03:30 CEST (01:30 UTC): the
  // nudge's own time (03:25 CEST) is quiet, so it goes 5 minutes before quiet hours begin at
  // 22:00 CET on the 28th (20:55 UTC), when the window is still open.
  const h = useWorker(import.meta.url, {
    KEEPER_POLICY: 'always', KEEPER_INTERVAL_MS: String(HOUR), QUIET_HOURS: '22:00-07:00', APP_TIMEZONE: 'Europe/Berlin', SANDBOX_OUTSIDE_WINDOW: 'failed-status',
  }, new Date('2026-03-28T01:30:00Z'));

  it('goes before quiet hours begin, not inside them', async () => {
    const waId = '4915120000009';
    const opened = await subscribe(h, waId);
    expect(opened.toISOString().slice(0, 13)).to.equal('2026-03-28T01');

    h.clock.set(new Date('2026-03-28T20:50:00Z'));
    await pass(h);
    expect(nudgesTo(h, waId), 'not before its time').to.have.length(0);
    h.clock.set(new Date('2026-03-28T20:56:00Z'));
    expect((await pass(h)).sent).to.equal(1);
    expect(nudgesTo(h, waId)[0]?.acceptedAt.toISOString()).to.equal('2026-03-28T20:56:00.000Z');
    h.clock.set(new Date(opened.getTime() + DAY - 5 * MINUTE + 1000));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(1);
  });

  it('when quiet hours have already begun it is not sent at all, and the reason is recorded', async () => {
    const waId = '4915120000010';
    h.clock.set(new Date('2026-03-28T22:00:00Z'));
    const opened = await subscribe(h, waId);
    // Its window closes 2026-03-29 22:00 UTC (00:00 CEST on the 30th): the nudge's time is quiet,
    // and quiet hours (from 22:00 CEST = 20:00 UTC) begin before the nudge could go.
    h.clock.set(new Date(opened.getTime() + DAY - 90 * MINUTE));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(0);
    const [record] = await records(h, waId);
    expect(record).to.deep.include({ state: 'skipped', reason: 'quiet-hours' });
  });
});

describe('window keeper: a session broadcast that carries the nudge buttons', function () {
  this.timeout(60_000);
  const topicsFile = join(mkdtempSync(join(tmpdir(), 'keeper-topics-')), 'topics.json');
  const topics = JSON.parse(readFileSync('config/topics.json', 'utf8')) as { topics: { id: string; broadcastCarriesNudgeButtons?: boolean }[] };
  for (const topic of topics.topics) topic.broadcastCarriesNudgeButtons = true;
  writeFileSync(topicsFile, JSON.stringify(topics));
  const h = useWorker(import.meta.url, { KEEPER_POLICY: 'always', KEEPER_INTERVAL_MS: String(HOUR), TOPICS_FILE: topicsFile, SEND_RATE_MPS: '1000' }, new Date('2026-11-12T08:00:00Z'));

  it('the news goes with Keep / Stop, and no separate nudge follows in that window', async () => {
    const waId = '4915120000020';
    const opened = await subscribe(h, waId);
    h.clock.advance(HOUR);
    const services = (): Services => h.worker.deps;
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: { date: '2026-11-12T09:00:00Z', cases: 200, new_cases: 2 }, key: 'carries-buttons' });
    const { broadcast } = await createBroadcast(services(), prepared, await planBroadcast(services(), prepared, h.clock.now()), h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    await waitFor('the broadcast to finish', async () => (await broadcastReport(services(), broadcast.id)).status === 'done', 60_000, 100);
    const news = h.sandbox.messages({ to: waId }).at(-1);
    expect(news?.type).to.equal('interactive');
    expect(news?.body).to.include('200');
    expect(news?.buttons?.map((b) => b.id)).to.deep.equal(['keep:fallzahlen', 'stop']);

    h.clock.set(new Date(opened.getTime() + DAY - 5 * MINUTE + 1000));
    await pass(h);
    expect(nudgesTo(h, waId)).to.have.length(0);
    expect((await records(h, waId)).map((r) => r.state)).to.deep.equal(['carried']);
  });
});
