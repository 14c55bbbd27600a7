import type { Db } from 'mongodb';
import { CONTACTS } from '../../src/store/contact-repository.js';

/** A valid German mobile number per index: +49151 followed by 8 digits. */
export function phoneFor(index: number, prefix = '49151'): string {
  return `+${prefix}${String(index).padStart(8, '0')}`;
}

/**
 * Writes subscribed contacts straight into the database, as an import would: for tests and
 * benchmarks that need many subscribers whose window is closed (the sandbox only opens
 * windows through its own inbound messages).
 */
export async function seedSubscribers(db: Db, options: { count: number; from?: number; topic?: string; prefix?: string; state?: 'subscribed' | 'pending'; lastInboundAt?: Date; now?: Date }): Promise<string[]> {
  const now = options.now ?? new Date();
  const phones: string[] = [];
  const docs = [];
  for (let i = options.from ?? 0; i < (options.from ?? 0) + options.count; i += 1) {
    const phone = phoneFor(i, options.prefix);
    phones.push(phone);
    docs.push({
      _id: phone,
      phone,
      waId: phone.slice(1),
      status: 'active',
      subscriptions: { [options.topic ?? 'fallzahlen']: { state: options.state ?? 'subscribed', changedAt: now, source: 'import' } },
      sentSinceReply: 0,
      unansweredTemplates: 0,
      createdAt: now,
      ...(options.lastInboundAt ? { lastInboundAt: options.lastInboundAt } : {}),
    });
  }
  for (let i = 0; i < docs.length; i += 5000) await db.collection(CONTACTS).insertMany(docs.slice(i, i + 5000) as never[]);
  return phones;
}
