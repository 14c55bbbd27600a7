import type { Services } from '../../src/app/deps.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { waitFor } from './wait-for.js';
import type { WorkerHarness } from './worker-harness.js';

const MINUTE = 60_000;
const DATA = { date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 };

/**
 * What a person does over the sandbox, and what a test then looks at, for tests of contacts
 * seen under numbers and user ids: messages one minute apart (starting two hours before the
 * harness's clock), subscribing through the conversation, and a `fallzahlen` broadcast run to its end.
 */
export function personSteps(h: WorkerHarness) {
  const services = (): Services => h.worker.deps;
  const waId = (phone: string) => phone.slice(1);
  const userIdOf = (phone: string) => h.sandbox.userIdOf(phone);
  let minute = 0;
  /** Seconds since the epoch, one minute later on each call (messages of one person in order). */
  const nextTimestamp = () => Math.floor((h.clock.now().getTime() - 120 * MINUTE) / 1000) + 60 * ++minute;

  /**
   * Waits until what the person just wrote is handled, replies included: its webhook batch is
   * stored in the background after the answer, and only then is the inbound handling kicked.
   */
  const handled = async () => {
    await h.worker.deps.webhookBatches.idle();
    await h.worker.deps.inbound.idle();
  };

  return {
    services,
    waId,
    userIdOf,
    nextTimestamp,
    /** Live contacts (not what is left of a merged one) that hold or are keyed by any of these numbers or their user ids. */
    liveContactsOf: (...phones: string[]) => h.worker.deps.db.collection(CONTACTS).find({
      mergedInto: { $exists: false },
      $or: phones.flatMap((phone) => [{ _id: phone }, { phone }, { _id: `user:${userIdOf(phone)}` }, { userId: userIdOf(phone) }]),
    } as never).toArray(),
    /** What the sandbox accepted for this number, whether sent to the number or to its user id. */
    sentTo: (phone: string) => h.sandbox.messages({ to: waId(phone) }),

    /** The person subscribes to `fallzahlen` through the conversation (keyword, then Yes). */
    async subscribe(phone: string): Promise<void> {
      await h.sandbox.inbound({ from: waId(phone), text: 'Fallzahlen', timestamp: nextTimestamp() });
      await h.sandbox.inbound({ from: waId(phone), button: { id: 'yes:fallzahlen', title: 'Ja' }, timestamp: nextTimestamp() });
      await handled();
    },

    /** The person writes; returns the message's time once the worker handled it. */
    async write(phone: string, text: string): Promise<Date> {
      const timestamp = nextTimestamp();
      await h.sandbox.inbound({ from: waId(phone), text, timestamp });
      await handled();
      return new Date(timestamp * 1000);
    },

    /** Publishes a `fallzahlen` broadcast and waits until it is done. */
    async publishAndRun(key: string) {
      const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: DATA, key });
      const plan = await planBroadcast(services(), prepared, h.clock.now());
      const { broadcast } = await createBroadcast(services(), prepared, plan, h.clock.now());
      await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
      await waitFor('the broadcast to finish', async () => (await broadcastReport(services(), broadcast.id)).status === 'done', 60_000, 100);
      return broadcast;
    },

    async deliveryOf(broadcastId: string, key: string) {
      return services().deliveries.get(await services().deliveries.idOf(broadcastId, key));
    },
  };
}
