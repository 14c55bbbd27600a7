import { expect } from 'chai';
import { readTopicHistory } from '../../src/app/simulation-setup.js';
import { BroadcastRepository } from '../../src/store/broadcast-repository.js';
import { CONTACTS, ContactRepository } from '../../src/store/contact-repository.js';
import { DeliveryRepository } from '../../src/store/delivery-repository.js';
import { NudgeRepository } from '../../src/store/nudge-repository.js';
import { WebhookEventRepository } from '../../src/store/webhook-event-repository.js';
import type { InboundMessageEvent } from '../../src/whatsapp/webhook-parser.js';
import { useTestDatabase } from '../support/test-server.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = new Date('2026-11-20T12:00:00Z');
const DAYS = 14;
const START = NOW.getTime() - DAYS * DAY;
const KEYS = ['+4915100000001', '+4915100000002', '+4915100000003', '+4915100000004'];

function inbound(key: string, at: number, n: number): { contactKey: string; event: InboundMessageEvent } {
  return {
    contactKey: key,
    event: {
      type: 'message', id: `wamid.IN${n}`, kind: 'text', text: 'ok', timestamp: new Date(at), from: key.slice(1), phone: key as InboundMessageEvent['phone'],
      messageType: 'text', wabaId: 'waba', phoneNumberId: 'pn',
    } as InboundMessageEvent,
  };
}

/** `--from-history` against the database: what the worker stored, read back through the repositories and measured. */
describe('simulator history from the database (readTopicHistory)', function () {
  this.timeout(30_000);
  const database = useTestDatabase(import.meta.url);

  before(async () => {
    const { db } = database;
    const [broadcasts, deliveries, nudges, events] = [new BroadcastRepository(db), new DeliveryRepository(db), new NudgeRepository(db), new WebhookEventRepository(db)];
    await db.collection(CONTACTS).insertMany(KEYS.map((key) => ({
      _id: key, phone: key, status: 'active', createdAt: new Date(START - DAY), sentSinceReply: 0, unansweredTemplates: 0,
      subscriptions: { fallzahlen: { state: 'subscribed', changedAt: new Date(START - DAY), source: 'button' } },
    })) as never[]);
    let n = 0;
    const replies: { contactKey: string; event: InboundMessageEvent }[] = [];
    // Fourteen days of news at 09:00 UTC to four subscribers; the first answers every one 10 minutes later.
    for (let day = 0; day < DAYS; day += 1) {
      const at = START + day * DAY + 21 * HOUR; // 09:00 on each of the last 14 days
      const { broadcast } = await broadcasts.create({
        key: `k${day}`, topic: 'fallzahlen', content: { sessionText: 'news', template: { name: 'daily_update', language: 'de', category: 'UTILITY', parameters: [] } } as never,
        createdAt: new Date(at), estimate: { session: 0, template: 4, skipped: {}, estimatedCost: 0, currency: 'EUR' },
      }, new Date(at));
      for (const key of KEYS) {
        expect(await deliveries.claim(broadcast.id, key, 'template', 0.0456, new Date(at), undefined)).to.equal(true);
        await deliveries.markSent(await deliveries.idOf(broadcast.id, key), `wamid.OUT${n++}`, new Date(at));
      }
      replies.push(inbound(KEYS[0] as string, at + 10 * MINUTE, n++));
    }
    // Two nudges to the second subscriber, one answered 20 minutes later.
    for (const [k, answered] of [[2, true], [5, false]] as const) {
      const sentAt = START + k * DAY + 20 * HOUR;
      const id = await nudges.claim({ contactKey: KEYS[1] as string, windowOf: new Date(sentAt - 23 * HOUR), topic: 'fallzahlen', state: 'claimed' }, new Date(sentAt));
      await nudges.markSent(id as string, `wamid.N${k}`, new Date(sentAt));
      if (answered) {
        replies.push(inbound(KEYS[1] as string, sentAt + 20 * MINUTE, n++));
        await nudges.recordReplies([{ contactKey: KEYS[1] as string, at: new Date(sentAt + 20 * MINUTE) }]);
      }
    }
    await events.addInbound(replies, NOW);
  });

  it('measures publishing, answers to news and nudges and the delay, and counts the subscribers', async () => {
    const { db } = database;
    const sources = {
      broadcasts: new BroadcastRepository(db), deliveries: new DeliveryRepository(db), nudges: new NudgeRepository(db),
      events: new WebhookEventRepository(db), contacts: new ContactRepository(db),
    };
    const { measured, subscribers } = await readTopicHistory(sources, 'fallzahlen', NOW, 'UTC', DAYS * DAY);
    expect(subscribers).to.equal(4);
    expect(measured.broadcasts).to.equal(14);
    expect(measured.publishing).to.deep.equal({ kind: 'daily', time: { hour: 9, minute: 0 } });
    // 56 news messages, 14 answered (the nudge's answer is the nudge's, not the news item's).
    expect(measured.replyToNews).to.deep.equal({ value: 14 / 56, of: 56 });
    expect(measured.replyToNudge).to.deep.equal({ value: 0.5, of: 2 });
    expect(measured.replyDelayMinutes?.of).to.equal(15);
    expect(measured.replyDelayMinutes?.value).to.be.closeTo((14 * 10 + 20) / 15, 1e-9);
  });
});
