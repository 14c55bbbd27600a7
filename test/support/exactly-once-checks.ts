import type { Db } from 'mongodb';
import { DELIVERIES, DELIVERY_ATTEMPTS, DeliveryRepository, TERMINAL_STATES, type Delivery, type DeliveryIds, type DeliveryState } from '../../src/store/delivery-repository.js';
import { STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import type { AcceptedMessage } from './broadcast-fleet.js';

export interface ExactlyOnceChecks {
  /** Recipients with more than one accepted message of the broadcast. */
  messagedTwice: number;
  /** Deliveries not in a terminal state. */
  notTerminal: number;
  /** Subscribers without a delivery record. */
  withoutDelivery: number;
  /** Delivery records beyond one per subscriber. */
  extraDeliveries: number;
  /** Subscribers without a message whose delivery does not say why (unknown, failed or skipped). */
  silentlyMissing: number;
}

export interface ExactlyOnceReport {
  checks: ExactlyOnceChecks;
  /** One line per rule broken; empty when every rule holds. */
  violations: string[];
  /** A few subscribers per broken rule, and the raw records of some of them. */
  examples: Record<string, string[]>;
  /** Deliveries by state, as the repository counts them. */
  deliveries: Record<string, number>;
}

/** States that say why a subscriber got no message. */
const EXPLAINED: readonly DeliveryState[] = ['unknown', 'failed', 'skipped'];

const digits = (phone: string): string => phone.replace(/\D/g, '');

/**
 * The README's "Exactly once", checked after a broadcast to `phones` ended: what the provider
 * (the sandbox) accepted against what the database recorded. Nobody messaged twice, every
 * delivery in a terminal state, exactly one delivery per subscriber, and a subscriber without
 * a message has a delivery that says why (unknown, failed, skipped).
 */
export async function checkExactlyOnce(db: Db, broadcastId: string, phones: readonly string[], accepted: readonly AcceptedMessage[]): Promise<ExactlyOnceReport> {
  const sentAt = new Map<string, string[]>();
  for (const m of accepted) sentAt.set(digits(m.to), [...(sentAt.get(digits(m.to)) ?? []), m.acceptedAt]);

  const repository = new DeliveryRepository(db);
  const deliveryId = await repository.ids();
  const found = new Map<string, Delivery>();
  for (let i = 0; i < phones.length; i += 1000) {
    for (const [key, delivery] of await repository.find(phones.slice(i, i + 1000).map((p) => deliveryId(broadcastId, p)))) found.set(key, delivery);
  }
  const totals = await repository.totals(broadcastId);
  const recorded = Object.values(totals.byState).reduce((a, b) => a + b, 0);

  const twice: string[] = [];
  const without: string[] = [];
  const notTerminal: string[] = [];
  const silent: string[] = [];
  for (const phone of phones) {
    const delivery = found.get(deliveryId(broadcastId, phone));
    const times = sentAt.get(digits(phone));
    const described = delivery ? `delivery ${delivery.state}, ${delivery.attempts} attempt(s), claimed ${delivery.claimedAt?.toISOString() ?? 'never'}` : 'no delivery';
    if (times && times.length > 1) twice.push(`${phone}: accepted at ${times.join(', ')}; ${described}`);
    if (!delivery) {
      without.push(`${phone}: ${times ? `accepted at ${times.join(', ')}` : 'no message'}`);
      continue;
    }
    if (!TERMINAL_STATES.includes(delivery.state)) notTerminal.push(`${phone}: ${delivery.state}`);
    if (!times && !EXPLAINED.includes(delivery.state)) silent.push(`${phone}: ${delivery.state} without a message`);
  }
  const checks: ExactlyOnceChecks = {
    messagedTwice: twice.length, notTerminal: notTerminal.length, withoutDelivery: without.length,
    extraDeliveries: Math.max(0, recorded - found.size), silentlyMissing: silent.length,
  };
  const violations = [
    ...(twice.length ? [`${twice.length} subscriber(s) got the broadcast twice`] : []),
    ...(notTerminal.length ? [`${notTerminal.length} deliveries did not end`] : []),
    ...(without.length ? [`${without.length} subscriber(s) have no delivery`] : []),
    ...(checks.extraDeliveries ? [`${checks.extraDeliveries} deliveries beyond one per subscriber`] : []),
    ...(silent.length ? [`${silent.length} subscriber(s) got no message and their delivery does not say why`] : []),
  ];
  const suspects = [...twice, ...without].slice(0, 4).map((line) => line.split(':')[0] as string);
  return {
    checks,
    violations,
    examples: {
      messagedTwice: twice.slice(0, 5), notTerminal: notTerminal.slice(0, 5), withoutDelivery: without.slice(0, 5), silentlyMissing: silent.slice(0, 5),
      ...(suspects.length ? { records: await rawRecords(db, deliveryId, broadcastId, suspects, accepted) } : {}),
    },
    deliveries: totals.byState,
  };
}

/**
 * What the database holds about these subscribers, raw, for a broken rule: the delivery by
 * its id, any delivery of theirs, attempt claims, and the stored status events of their messages.
 */
async function rawRecords(db: Db, deliveryId: DeliveryIds, broadcastId: string, phones: readonly string[], accepted: readonly AcceptedMessage[]): Promise<string[]> {
  const lines: string[] = [];
  for (const phone of phones) {
    const key = deliveryId(broadcastId, phone);
    const wamids = accepted.filter((m) => m.callbackData === key).map((m) => m.wamid);
    const [byId, byContact, attempts, statuses] = await Promise.all([
      db.collection(DELIVERIES).findOne({ _id: key as never }),
      db.collection(DELIVERIES).countDocuments({ contactKey: phone }),
      db.collection(DELIVERY_ATTEMPTS).find({ _id: { $regex: `^${key.replace(/[.+]/g, '\\$&')}#` } as never }).toArray(),
      db.collection(STATUS_EVENTS).find({ 'event.id': { $in: wamids } }, { projection: { _id: 1 } }).toArray(),
    ]);
    lines.push(`${phone}: wamids ${JSON.stringify(wamids)}; by id ${JSON.stringify(byId)}; deliveries of the contact ${byContact}; attempts ${JSON.stringify(attempts)}; statuses ${JSON.stringify(statuses.map((s) => s._id))}`);
  }
  return lines;
}
