import { expect } from 'chai';
import type { z } from 'zod';
import { fastContact, fastEnvelope, fastMessagesValue, fastStatus } from '../../src/whatsapp/webhook-fast-path.js';
import { contactSchema, envelopeSchema, messagesValueSchema, statusSchema, WEBHOOK_LIMITS } from '../../src/whatsapp/webhook-schema.js';
import { parseWebhook } from '../../src/whatsapp/webhook-parser.js';
import { contact, entry, envelope, messagesChange, status } from '../support/meta-webhooks.js';

type Json = Record<string, unknown>;

/** Values that sit on or just beyond an edge of some field. */
const long = (n: number) => 'a'.repeat(n);
const ODD: unknown[] = [
  undefined, null, true, false, 0, -1, 1.5, 1e12, 1e12 + 1, Number.MAX_SAFE_INTEGER, '', ' ', '0', '-1', '1.5', '123456789012', '1234567890123',
  'a|b', 'DE.123', 'ü', '\u0000', [], ['x'], {}, { a: 1 }, Object.create(null) as unknown,
  ...[WEBHOOK_LIMITS.waId, WEBHOOK_LIMITS.word, WEBHOOK_LIMITS.userId, WEBHOOK_LIMITS.id, 512, WEBHOOK_LIMITS.short].flatMap((n) => [long(n), long(n + 1)]),
];

/** Every field of `base` (and of its objects, one level down) set to each odd value, and removed. */
function variants(base: Json): Json[] {
  const out: Json[] = [base];
  for (const key of Object.keys(base)) {
    for (const value of ODD) out.push({ ...base, [key]: value });
    const { [key]: _dropped, ...rest } = base;
    out.push(rest);
    const inner = base[key];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      for (const sub of variants(inner as Json).slice(1)) out.push({ ...base, [key]: sub });
    }
  }
  for (const value of ODD) out.push({ ...base, extra: value });
  return out;
}

/** Whatever the fast reader takes, the schema takes too and reads the same; it takes the usual shapes. */
function holdsTo<S extends z.ZodType>(fast: (raw: unknown) => unknown, schema: S, bases: Json[]): void {
  let taken = 0;
  for (const base of bases) {
    expect(fast(base), 'the usual shape takes the fast path').not.to.equal(undefined);
    for (const input of variants(base)) {
      const quick = fast(input);
      const slow = schema.safeParse(input);
      if (quick === undefined) continue;
      taken += 1;
      expect(slow.success, `the schema refuses what the fast path took: ${JSON.stringify(input)?.slice(0, 200)}`).to.equal(true);
      expect(quick).to.deep.equal(slow.data);
    }
  }
  expect(taken).to.be.greaterThan(bases.length);
}

const sent = status('wamid.HBgL1', 'sent', '4915112345678', {
  recipient_user_id: 'DE.1423', biz_opaque_callback_data: 'dl:6740a1b2:abc',
  pricing: { billable: true, pricing_model: 'PMP', category: 'marketing', type: 'regular' },
}) as Json;

describe('webhook fast path: the common shapes without zod', () => {
  it('a status: takes only what statusSchema takes, read the same', () => {
    holdsTo(fastStatus, statusSchema, [sent, { ...sent, timestamp: 1741608240 }, status('wamid.X', 'read', '12015550123') as Json]);
  });

  it('a status with errors goes to the schema', () => {
    expect(fastStatus({ ...sent, errors: [{ code: 131047 }] })).to.equal(undefined);
  });

  it('a contact: takes only what contactSchema takes', () => {
    holdsTo(fastContact, contactSchema, [contact('4915112345678', 'Ada', { user_id: 'DE.1423' }) as Json, { user_id: 'DE.1', profile: { username: 'ada' } }]);
  });

  it('a messages change: takes only what messagesValueSchema takes', () => {
    const value = (messagesChange({ statuses: [sent], contacts: [contact('4915112345678')] }) as { value: Json }).value;
    holdsTo(fastMessagesValue, messagesValueSchema, [value, { ...value, metadata: { phone_number_id: '1' } }]);
  });

  it('an envelope: takes only what envelopeSchema takes', () => {
    const body = envelope(entry(messagesChange({ statuses: [sent] }))) as Json;
    const first = (body.entry as Json[])[0] as Json;
    const change = (first.changes as Json[])[0] as Json;
    const withEntry = (e: Json) => ({ ...body, entry: [e] });
    const withChange = (c: Json) => withEntry({ ...first, changes: [c] });
    holdsTo(fastEnvelope, envelopeSchema, [body]);
    for (const e of variants(first)) expect(fastEnvelope(withEntry(e)) === undefined || envelopeSchema.safeParse(withEntry(e)).success).to.equal(true);
    for (const c of variants(change)) expect(fastEnvelope(withChange(c)) === undefined || envelopeSchema.safeParse(withChange(c)).success).to.equal(true);
  });

  it('a bad status inside a status POST is still refused alone, with the schema\'s reason', () => {
    const result = parseWebhook(envelope(entry(messagesChange({ statuses: [sent, { ...sent, id: long(WEBHOOK_LIMITS.id + 1) }, { ...sent, timestamp: '-5' }] }))));
    if (!result.ok) throw new Error(result.reason);
    expect(result.statuses).to.have.length(1);
    expect(result.rejected.map((r) => [r.where, r.code, r.reason])).to.deep.equal([
      ['entry[0].changes[0].value.statuses[1]', 'too-long', `id: longer than ${WEBHOOK_LIMITS.id} characters`],
      ['entry[0].changes[0].value.statuses[2]', 'invalid-timestamp', 'timestamp: not seconds since the epoch'],
    ]);
  });
});
