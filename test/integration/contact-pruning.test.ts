import { expect } from 'chai';
import { Pruner, type NudgedSince } from '../../src/app/pruner.js';
import { CONTACTS, ContactRepository, contactTopicIndexes, type PruneCandidate } from '../../src/store/contact-repository.js';
import { ensureIndexes } from '../../src/store/database.js';
import { useTestDatabase } from '../support/test-server.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-20T12:00:00Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);
const CONSENT = { source: 'button', wording: 'Möchtest du informiert werden?', language: 'de', messageId: 'wamid.CONSENT', at: ago(90) };

interface Seed {
  key: string;
  lastInboundAt?: Date;
  sentSinceReply?: number;
  unansweredTemplates?: number;
  status?: 'active' | 'lapsed' | 'removed';
  subscribedAt?: Date;
  topics?: Record<string, 'subscribed' | 'pending' | 'unsubscribed'>;
}

describe('pruning against the database: candidates, guarded removal, counts', function () {
  this.timeout(30_000);
  const database = useTestDatabase(import.meta.url);
  let contacts: ContactRepository;
  const settings = { afterDays: 30, afterUnansweredTemplates: 3, pageSize: 50 };

  async function seed(...seeds: Seed[]): Promise<void> {
    await database.db.collection(CONTACTS).insertMany(seeds.map((s) => ({
      _id: s.key, phone: s.key, waId: s.key.slice(1), status: s.status ?? 'active', createdAt: ago(120),
      sentSinceReply: s.sentSinceReply ?? 0, unansweredTemplates: s.unansweredTemplates ?? 0,
      ...(s.lastInboundAt ? { lastInboundAt: s.lastInboundAt } : {}),
      subscriptions: Object.fromEntries(Object.entries(s.topics ?? { fallzahlen: 'subscribed' }).map(([topic, state]) => [topic, {
        state, changedAt: s.subscribedAt ?? ago(90), source: 'button', messageId: 'wamid.CONSENT', ...(state === 'subscribed' ? { consent: CONSENT } : {}),
      }])),
    })) as never[]);
  }

  const pruner = (nudgedSince?: NudgedSince) => new Pruner({ contacts, topics: ['fallzahlen'], settings, ...(nudgedSince ? { nudgedSince } : {}) });

  before(async () => {
    await ensureIndexes(database.db, contactTopicIndexes(['fallzahlen', 'wetter']));
    contacts = new ContactRepository(database.db);
  });
  afterEach(async () => {
    await database.db.collection(CONTACTS).deleteMany({});
  });

  it('declares two indexes per topic, on that topic\'s subscription state', async () => {
    const indexes = await database.db.collection(CONTACTS).indexes();
    const byName = new Map(indexes.map((i) => [i.name, i.key]));
    expect(byName.get('contacts_fallzahlen_state_inbound')).to.deep.equal({ 'subscriptions.fallzahlen.state': 1, lastInboundAt: 1 });
    expect(byName.get('contacts_wetter_state_templates')).to.deep.equal({ 'subscriptions.wetter.state': 1, unansweredTemplates: 1 });
  });

  it('removes the silent and the unanswering, keeps the rest, records why and when, keeps the consent, lapses whom no topic is left', async () => {
    await seed(
      { key: '+4915100000001', lastInboundAt: ago(40), sentSinceReply: 2 }, // silent 40 days after two broadcasts
      { key: '+4915100000002', lastInboundAt: ago(5), sentSinceReply: 3, unansweredTemplates: 3 }, // three templates unanswered
      { key: '+4915100000003', sentSinceReply: 1, subscribedAt: ago(40) }, // imported 40 days ago, one broadcast, never wrote
      { key: '+4915100000004', lastInboundAt: ago(40) }, // never contacted since: kept
      { key: '+4915100000005', lastInboundAt: ago(20), sentSinceReply: 5, unansweredTemplates: 2 }, // within both limits
      { key: '+4915100000006', lastInboundAt: ago(40), sentSinceReply: 2, topics: { fallzahlen: 'subscribed', wetter: 'subscribed' } },
      { key: '+4915100000007', lastInboundAt: ago(40), sentSinceReply: 2, status: 'removed' },
      { key: '+4915100000008', lastInboundAt: ago(40), sentSinceReply: 2, subscribedAt: ago(10) }, // subscribed again 10 days ago
      { key: '+4915100000009', lastInboundAt: ago(40), sentSinceReply: 2, topics: { fallzahlen: 'pending' } },
    );
    const report = await pruner().prune(NOW);
    expect(report).to.deep.include({ removed: { fallzahlen: { 'no-reply': 3, 'unanswered-templates': 1 } }, total: 4, interrupted: false });

    const silent = await contacts.get('+4915100000001');
    expect(silent?.subscriptions.fallzahlen).to.deep.equal({ state: 'unsubscribed', source: 'prune', reason: 'no-reply', changedAt: NOW, consent: CONSENT });
    expect(silent?.status).to.equal('lapsed');
    expect(silent?.lapsedAt).to.deep.equal(NOW);
    expect((await contacts.get('+4915100000002'))?.subscriptions.fallzahlen).to.deep.include({ state: 'unsubscribed', reason: 'unanswered-templates' });
    expect((await contacts.get('+4915100000003'))?.subscriptions.fallzahlen).to.deep.include({ state: 'unsubscribed', reason: 'no-reply' });
    const both = await contacts.get('+4915100000006');
    expect(both?.subscriptions.fallzahlen?.state).to.equal('unsubscribed');
    expect(both?.subscriptions.wetter?.state, 'only the pruned topic ends').to.equal('subscribed');
    expect(both?.status, 'still subscribed to another topic').to.equal('active');
    for (const key of ['+4915100000004', '+4915100000005', '+4915100000007', '+4915100000008']) {
      expect((await contacts.get(key))?.subscriptions.fallzahlen?.state, key).to.equal('subscribed');
    }
    expect((await contacts.get('+4915100000009'))?.subscriptions.fallzahlen?.state).to.equal('pending');

    expect(await pruner().prune(NOW), 'a second pass').to.deep.include({ removed: {}, total: 0 });
    expect(await contacts.countPruned('fallzahlen')).to.equal(4);
    expect(await contacts.topicCounts('fallzahlen', NOW)).to.deep.equal({ active_window_open: 0, active_window_closed: 4, pending: 1, lapsed: 4, unsubscribed: 0 });
  });

  it('a never-contacted subscriber who was nudged since the last reply is removed (the injected nudge records)', async () => {
    await seed({ key: '+4915100000011', lastInboundAt: ago(40) }, { key: '+4915100000012', lastInboundAt: ago(40) });
    const asked: { contactKey: string; since: Date }[] = [];
    const report = await pruner(async (list) => {
      asked.push(...list);
      return new Set(['+4915100000011']);
    }).prune(NOW);
    expect(report.removed).to.deep.equal({ fallzahlen: { 'no-reply': 1 } });
    expect(asked.find((a) => a.contactKey === '+4915100000011')?.since, 'since the last reply').to.deep.equal(ago(40));
    expect((await contacts.get('+4915100000012'))?.subscriptions.fallzahlen?.state).to.equal('subscribed');
  });

  it('pages through many candidates, and two passes at once remove each subscriber exactly once', async () => {
    await seed(...Array.from({ length: 120 }, (_, i) => ({ key: `+49151200${String(i).padStart(5, '0')}`, lastInboundAt: ago(31 + (i % 5)), sentSinceReply: 1 })));
    const pages: number[] = [];
    for await (const page of contacts.pruneCandidates('fallzahlen', { repliedBefore: ago(30) }, 50)) pages.push(page.length);
    expect(pages).to.deep.equal([50, 50, 20]);

    const [a, b] = await Promise.all([pruner().prune(NOW), pruner().prune(NOW)]);
    expect((a?.total ?? 0) + (b?.total ?? 0)).to.equal(120);
    expect(await contacts.countPruned('fallzahlen')).to.equal(120);
    expect(await database.db.collection(CONTACTS).countDocuments({ status: 'lapsed' })).to.equal(120);
  });

  it('the removal applies only while nothing changed since the decision: a message, or a new subscription, keeps them', async () => {
    await seed({ key: '+4915100000021', lastInboundAt: ago(40), sentSinceReply: 2 }, { key: '+4915100000022', lastInboundAt: ago(40), sentSinceReply: 2 });
    const read: PruneCandidate[] = [];
    for await (const page of contacts.pruneCandidates('fallzahlen', { repliedBefore: ago(30) }, 50)) read.push(...page);
    const candidate = (key: string): PruneCandidate => {
      const found = read.find((c) => c.key === key);
      if (!found) throw new Error(`${key} is not a candidate`);
      return found;
    };
    const [wrote, resubscribed] = [candidate('+4915100000021'), candidate('+4915100000022')];

    await contacts.recordInbound([{ key: wrote.key, timestamp: ago(0) }], NOW);
    expect(await contacts.prune(wrote, 'fallzahlen', 'no-reply', NOW)).to.equal(false);
    expect((await contacts.get(wrote.key))?.subscriptions.fallzahlen?.state).to.equal('subscribed');

    await contacts.applyConversation(resubscribed.key, { subscriptions: { fallzahlen: { state: 'subscribed', changedAt: ago(0), source: 'import' } }, conversationAt: ago(40), now: NOW });
    expect(await contacts.prune(resubscribed, 'fallzahlen', 'no-reply', NOW)).to.equal(false);
    expect((await contacts.get(resubscribed.key))?.subscriptions.fallzahlen?.state).to.equal('subscribed');
  });

  it('a lapsed contact who writes is active again; a removed one stays removed', async () => {
    await seed({ key: '+4915100000031', lastInboundAt: ago(40), sentSinceReply: 2 }, { key: '+4915100000032', lastInboundAt: ago(40), status: 'removed' });
    await pruner().prune(NOW);
    expect((await contacts.get('+4915100000031'))?.status).to.equal('lapsed');
    await contacts.recordInbound([{ key: '+4915100000031', timestamp: NOW }, { key: '+4915100000032', timestamp: NOW }], NOW);
    const back = await contacts.get('+4915100000031');
    expect(back?.status).to.equal('active');
    expect(back?.lapsedAt).to.equal(undefined);
    expect(back?.subscriptions.fallzahlen?.state, 'writing alone does not subscribe again').to.equal('unsubscribed');
    expect((await contacts.get('+4915100000032'))?.status).to.equal('removed');
  });

  it('with both limits at 0 nobody is a candidate', async () => {
    await seed({ key: '+4915100000041', lastInboundAt: ago(400), sentSinceReply: 9, unansweredTemplates: 9 });
    const off = new Pruner({ contacts, topics: ['fallzahlen'], settings: { afterDays: 0, afterUnansweredTemplates: 0, pageSize: 50 } });
    expect(await off.prune(NOW)).to.deep.include({ total: 0, examined: 0 });
  });
});
