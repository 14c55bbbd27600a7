import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { INBOUND, inboundKey, PREFERENCE_EVENTS, REJECTED_EVENTS, STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import type { InboundMessageEvent } from '../../src/whatsapp/webhook-parser.js';
import { REPLAY_DISTANCE, type FuzzRequest, type WebhookFuzzer } from './webhook-fuzz.js';

/**
 * Sends the requests of a WebhookFuzzer to a worker and checks the answers, then the database and
 * the sandbox: the part of the fuzz run shared by the test and `npm run bench -- fuzz`.
 */

export interface FuzzResult {
  readonly status: number;
  readonly ms: number;
  readonly body: unknown;
}

/** Sends one request; a network error counts as status 0. */
export async function sendFuzzRequest(baseUrl: string, request: FuzzRequest): Promise<FuzzResult> {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}${request.path}`, { method: request.method, headers: request.headers, ...(request.body ? { body: request.body } : {}) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // a challenge or an empty answer
    }
    return { status: response.status, ms: performance.now() - started, body };
  } catch (err) {
    return { status: 0, ms: performance.now() - started, body: (err as Error).message };
  }
}

/**
 * Sends `count` generated requests, `concurrency` at a time (at most REPLAY_DISTANCE), and
 * returns them with their results. The requests are the same for a seed whatever the timing.
 */
export async function runFuzz(baseUrl: string, fuzzer: WebhookFuzzer, count: number, concurrency: number, deadline = Infinity): Promise<{ request: FuzzRequest; result: FuzzResult }[]> {
  const done: { request: FuzzRequest; result: FuzzResult }[] = [];
  let made = 0;
  const lane = async (): Promise<void> => {
    while (made < count && Date.now() < deadline) {
      made += 1;
      const request = fuzzer.next();
      done.push({ request, result: await sendFuzzRequest(baseUrl, request) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, REPLAY_DISTANCE) }, lane));
  return done.sort((a, b) => a.request.index - b.request.index);
}

/** What is wrong with one answer (undefined when it is right). */
export function checkAnswer(request: FuzzRequest, result: FuzzResult): string | undefined {
  const where = `request ${request.index} (${request.kind}: ${request.what})`;
  // A body over the limit is refused from its Content-Length before it is read: a client still
  // sending a few MiB when the worker answers 413 and closes sees the connection reset instead.
  if (request.status === 413 && result.status === 0) return undefined;
  if (result.status !== request.status) return `${where}: answered ${result.status}, expected ${request.status}: ${JSON.stringify(result.body).slice(0, 300)}`;
  const expected = request.counts;
  if (!expected) return undefined;
  const body = result.body as { received?: Record<string, number>; rejected?: { events?: number }; otherNumber?: { events?: number }; anomalies?: { futureTimestamp?: number } };
  const got = {
    messages: body.received?.messages, statuses: body.received?.statuses, preferences: body.received?.preferences,
    rejected: body.rejected?.events, otherNumber: body.otherNumber?.events, futureTimestamp: body.anomalies?.futureTimestamp,
  };
  return JSON.stringify(got) === JSON.stringify(expected) ? undefined : `${where}: answered ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`;
}

/**
 * Compares what the database and the sandbox hold with what the answered requests may have
 * stored: anything else is a state change by a refused request (or a lost valid event).
 * Returns one line per violation.
 */
export async function checkFuzzState(db: Db, sent: readonly { to: string }[], requests: readonly FuzzRequest[], latestAllowed: Date): Promise<string[]> {
  const violations: string[] = [];
  const expect = { messages: new Set<string>(), contacts: new Set<string>(), statuses: new Set<string>(), preferences: new Set<string>() };
  let rejected = 0;
  const refusedBodies = new Set<string>();
  for (const r of requests) {
    for (const m of r.stores.messages) expect.messages.add(m);
    for (const c of r.stores.contacts) expect.contacts.add(c);
    for (const s of r.stores.statuses) expect.statuses.add(s);
    for (const p of r.stores.preferences) expect.preferences.add(p);
    rejected += r.stores.rejected;
    if (r.status !== 200 && r.body) refusedBodies.add(createHash('sha256').update(r.body).digest('hex'));
  }
  const compare = (what: string, found: Iterable<string>, wanted: Set<string>): void => {
    const seen = new Set(found);
    const extra = [...seen].filter((x) => !wanted.has(x));
    const missing = [...wanted].filter((x) => !seen.has(x));
    if (extra.length > 0) violations.push(`${extra.length} ${what} stored that no accepted request carried, e.g. ${extra.slice(0, 3).join(', ')}`);
    if (missing.length > 0) violations.push(`${missing.length} valid ${what} not stored, e.g. ${missing.slice(0, 3).join(', ')}`);
  };
  const inbound = await db.collection<{ event: InboundMessageEvent }>(INBOUND).find({}, { projection: { 'event.id': 1, 'event.from': 1, 'event.userId': 1 } }).toArray();
  compare('inbound messages', inbound.map((d) => inboundKey(d.event)), expect.messages);
  const contacts = await db.collection<{ _id: string; lastInboundAt?: Date }>(CONTACTS).find({}, { projection: { _id: 1, lastInboundAt: 1 } }).toArray();
  compare('contacts', contacts.map((d) => d._id), expect.contacts);
  const late = contacts.filter((c) => c.lastInboundAt && c.lastInboundAt > latestAllowed);
  if (late.length > 0) violations.push(`${late.length} contacts with a window beyond the receive time, e.g. ${late[0]?._id}`);
  const statuses = await db.collection<{ event: { id: string } }>(STATUS_EVENTS).find({ 'event.id': { $regex: '^wamid\\.FUZZ\\.' } }, { projection: { 'event.id': 1 } }).toArray();
  compare('status events', statuses.map((d) => d.event.id), expect.statuses);
  const preferences = await db.collection<{ event: { waId?: string } }>(PREFERENCE_EVENTS).find({}, { projection: { 'event.waId': 1 } }).toArray();
  compare('preference events', preferences.map((d) => d.event.waId ?? ''), expect.preferences);
  const records = await db.collection<{ _id: string; reason: string }>(REJECTED_EVENTS).find().toArray();
  if (records.length !== rejected) violations.push(`${records.length} rejected events recorded, expected ${rejected}`);
  const fromRefused = records.filter((r) => refusedBodies.has(r._id.split(':')[0] ?? ''));
  if (fromRefused.length > 0) violations.push(`${fromRefused.length} rejected events recorded from requests answered with an error`);
  const allowedRecipients = new Set([...expect.contacts].map((c) => c.slice(1)));
  const strays = sent.filter((m) => !allowedRecipients.has(m.to));
  if (strays.length > 0) violations.push(`${strays.length} messages sent to numbers no accepted event came from, e.g. ${strays[0]?.to}`);
  if (({} as Record<string, unknown>).polluted !== undefined) violations.push('Object.prototype was polluted');
  return violations;
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}
