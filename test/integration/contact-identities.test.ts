import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { linkStoredContacts } from '../../src/app/app-database.js';
import type { Person } from '../../src/app/contact-identities.js';
import type { Services } from '../../src/app/deps.js';
import { plainNaming } from '../../src/app/export-records.js';
import { exportRecords } from '../../src/app/export.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import { CONTACTS, type Contact } from '../../src/store/contact-repository.js';
import { ensureIndexes } from '../../src/store/database.js';
import { DELIVERIES } from '../../src/store/delivery-repository.js';
import { CONTACT_IDENTITIES } from '../../src/store/identity-repository.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { CONTACT_MERGES } from '../../src/store/merge-repository.js';
import { NUDGES } from '../../src/store/nudge-repository.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import type { InboundMessageEvent } from '../../src/whatsapp/webhook-parser.js';
import { checkLinkedContacts, seedLegacyContacts } from '../support/legacy-contacts.js';
import { phoneFor } from '../support/seed.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { testServer, useTestDatabase, type TestDatabase } from '../support/test-server.js';

const NOW = new Date('2026-05-03T12:00:00Z');
const HOUR = 3600_000;
const at = (iso: string) => new Date(iso);

/** Services on the test database, and on a second connection of their own when asked (a second worker). */
function servicesOn(database: TestDatabase, clients: MongoClient[]): { one: () => Services; another: () => Promise<Services> } {
  const config = testConfig();
  const content = loadContentConfig(config);
  return {
    one: () => buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), database.db, content),
    another: async () => {
      const client = new MongoClient(testServer().uri);
      await client.connect();
      clients.push(client);
      return buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), client.db(database.name), content);
    },
  };
}

/** What the webhook ingest does with one message: finds the person's contact, stores the message under it, records the reply. */
async function receive(services: Services, person: Person, timestamp: Date, id: string): Promise<string> {
  const [key] = await services.people.resolve([person], NOW);
  if (key === undefined) throw new Error('a person with a number or a user id got no contact');
  const event: InboundMessageEvent = {
    type: 'message', id, kind: 'text', text: 'Hallo', timestamp, from: person.phone?.slice(1) ?? '', messageType: 'text', wabaId: 'waba', phoneNumberId: 'pnid',
    ...(person.phone ? { phone: person.phone as InboundMessageEvent['phone'] } : {}), ...(person.userId ? { userId: person.userId } : {}),
  };
  await services.events.addInbound([{ contactKey: key, event }], NOW);
  await services.contacts.recordInbound([{ key, timestamp, ...(person.phone ? { phone: person.phone, waId: person.phone.slice(1) } : {}), ...(person.userId ? { userId: person.userId } : {}) }], NOW);
  return key;
}

/** The live (not merged) contacts of one person: those holding the number or user id, or keyed by them. */
async function liveContactsOf(services: Services, person: Person): Promise<string[]> {
  const or: Record<string, string>[] = [];
  if (person.phone) or.push({ _id: person.phone }, { phone: person.phone });
  if (person.userId) or.push({ _id: `user:${person.userId}` }, { userId: person.userId });
  const docs = await services.db.collection<{ _id: string }>(CONTACTS).find({ $or: or, mergedInto: { $exists: false } }, { projection: { _id: 1 } }).toArray();
  return docs.map((d) => d._id).sort();
}

describe('one contact per person: merging two contacts, resolving identities', function () {
  this.timeout(60_000);
  const clients: MongoClient[] = [];
  const database = useTestDatabase(import.meta.url, async () => {
    for (const client of clients.splice(0)) await client.close();
  });
  const make = servicesOn(database, clients);
  let services: Services;

  before(async () => {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    services = make.one();
  });

  describe('merge: a number contact and a user-id contact of one person', () => {
    const P = '+4915100000001';
    const X = '49.AnnaBsuid01';
    const U = `user:${X}`;
    const P_CONSENT = { source: 'button', wording: 'Möchtest du die Fallzahlen?', language: 'de', messageId: 'wamid.P-yes', at: at('2026-04-01T09:00:00Z') };
    const U_CONSENT = { source: 'keyword', wording: 'Willst du das Wetter?', language: 'de', messageId: 'wamid.U-wetter', at: at('2026-04-20T09:00:00Z') };
    const P_REPLIED = at('2026-05-01T08:00:00Z');
    const U_REPLIED = at('2026-05-02T09:00:00Z');
    let ids: { b1: string; b2: string; b3: string };

    before(async () => {
      await database.db.collection(CONTACTS).insertMany([
        {
          _id: P, phone: P, waId: P.slice(1), profileName: 'Anna', language: 'de', status: 'active', identified: true,
          subscriptions: {
            // Subscribed with consent; the user-id contact said stop later.
            fallzahlen: { state: 'subscribed', changedAt: P_CONSENT.at, source: 'button', messageId: P_CONSENT.messageId, consent: P_CONSENT },
            // Said no here; subscribed later under the user id.
            wetter: { state: 'unsubscribed', changedAt: at('2026-04-02T09:00:00Z'), source: 'keyword', messageId: 'wamid.P-no' },
          },
          lastInboundAt: P_REPLIED, conversationAt: P_REPLIED, windowOpenedAt: at('2026-04-30T20:00:00Z'),
          sentSinceReply: 2, unansweredTemplates: 1, createdAt: at('2026-03-01T00:00:00Z'), updatedAt: P_REPLIED,
        },
        {
          _id: U, userId: X, profileName: 'anna_username', status: 'active', identified: true,
          subscriptions: {
            fallzahlen: { state: 'unsubscribed', changedAt: at('2026-04-10T09:00:00Z'), source: 'keyword', messageId: 'wamid.U-stop' },
            wetter: { state: 'subscribed', changedAt: U_CONSENT.at, source: 'keyword', messageId: U_CONSENT.messageId, consent: U_CONSENT },
          },
          lastInboundAt: U_REPLIED, conversationAt: U_REPLIED, windowOpenedAt: U_REPLIED,
          sentSinceReply: 0, unansweredTemplates: 0, createdAt: at('2026-04-05T00:00:00Z'), updatedAt: U_REPLIED,
        },
      ] as never[]);
      await services.identities.link([{ name: P, contactKey: P }, { name: U, contactKey: U }], NOW);

      const broadcast = async (key: string, topic: string) => (await services.broadcasts.create({
        key, topic, createdAt: NOW, estimate: { session: 1, template: 0, skipped: {}, estimatedCost: 0.01, currency: 'EUR' },
        content: { sessionText: 'News', template: { name: 'daily_update', language: 'de', category: 'MARKETING', bodyParams: [], quickReplyPayloads: [] } },
      }, NOW)).broadcast.id;
      ids = { b1: await broadcast('merge-b1', 'fallzahlen'), b2: await broadcast('merge-b2', 'wetter'), b3: await broadcast('merge-b3', 'wetter') };
      const idOf = await services.deliveries.ids();
      // b1 went to the number, b2 to the user id; b3 to the user id waits for a retry.
      for (const [b, key] of [[ids.b1, P], [ids.b2, U], [ids.b3, U]] as const) expect(await services.deliveries.claim(b, key, 'session', 0.01, NOW, undefined)).to.equal(true);
      await services.deliveries.markSent(idOf(ids.b1, P), 'wamid.B1', NOW);
      await services.deliveries.markSent(idOf(ids.b2, U), 'wamid.B2', NOW);
      await services.deliveries.markRetry(idOf(ids.b3, U), new Date(NOW.getTime() + HOUR), 'rate limited', {}, NOW);

      expect(await services.nudges.claim({ contactKey: U, windowOf: U_REPLIED, topic: 'wetter', state: 'skipped', reason: 'quiet-hours' }, NOW)).to.be.a('string');
      await services.events.addInbound([{ contactKey: U, event: { type: 'message', id: 'wamid.U-in', kind: 'text', text: 'Wetter', timestamp: U_REPLIED, from: '', userId: X, messageType: 'text', wabaId: 'waba', phoneNumberId: 'pnid' } }], NOW);

      await services.people.merge(P, U, NOW);
    });

    it('the number contact keeps the later window, the later reply\'s counters and each topic\'s later decision with its consent evidence', async () => {
      const survivor = await services.contacts.get(P) as Contact;
      expect(survivor).to.include({ status: 'active', phone: P, userId: X, profileName: 'Anna', language: 'de', sentSinceReply: 0, unansweredTemplates: 0 });
      expect([survivor.lastInboundAt, survivor.conversationAt, survivor.windowOpenedAt]).to.deep.equal([U_REPLIED, U_REPLIED, U_REPLIED]);
      expect(survivor.createdAt).to.deep.equal(at('2026-03-01T00:00:00Z'));
      expect(survivor.mergedFrom).to.deep.equal([U]);
      // The stop under the user id came later and wins; the consent given under the number stays as evidence.
      expect(survivor.subscriptions.fallzahlen).to.deep.include({ state: 'unsubscribed', changedAt: at('2026-04-10T09:00:00Z'), messageId: 'wamid.U-stop', consent: P_CONSENT });
      expect(survivor.subscriptions.wetter).to.deep.include({ state: 'subscribed', changedAt: U_CONSENT.at, consent: U_CONSENT });
    });

    it('the user-id contact is a tombstone that no topic, export or identity reaches', async () => {
      const tombstone = await services.contacts.get(U) as Contact;
      expect(tombstone).to.include({ mergedInto: P, status: 'removed' });
      expect(tombstone.subscriptions).to.deep.equal({});
      expect(tombstone).not.to.have.any.keys('userId', 'profileName', 'lastInboundAt', 'phone');
      expect((await services.contacts.current(U))?.key).to.equal(P);
      expect((await services.contacts.ofTopic('wetter', {})).map((c) => c.key)).to.deep.equal([P]);
      expect((await services.contacts.ofTopic('fallzahlen', {})).map((c) => c.key)).to.deep.equal([]);
      const rows = [];
      for await (const row of exportRecords(services, { what: 'contacts', format: 'ndjson', pseudonymize: false }, plainNaming).records) rows.push(row);
      // One row for the person, counting the messages sent under either identity (b1 and b2; b3 was never sent).
      expect(rows.filter((r) => r.contact === P || r.contact === U).map((r) => [r.contact, r.bsuid, r.messages])).to.deep.equal([[P, X, 2]]);
      expect(Object.fromEntries(await services.identities.owners([P, U]))).to.deep.equal({ [P]: P, [U]: P });
      expect(await services.people.keysOf([{ userId: X }, { phone: P }])).to.deep.equal([P, P]);
    });

    it('deliveries, nudges and stored messages of the user id name the number contact; a waiting retry is skipped with its reason', async () => {
      const idOf = await services.deliveries.ids();
      const wanted = [idOf(ids.b1, P), idOf(ids.b2, U), idOf(ids.b3, U)];
      const found = await services.deliveries.find(wanted);
      expect(wanted.map((id) => found.get(id)).map((d) => [d?.broadcastId, d?.contactKey, d?.state])).to.deep.equal([[ids.b1, P, 'sent'], [ids.b2, P, 'sent'], [ids.b3, P, 'skipped']]);
      expect(found.get(idOf(ids.b3, U))?.reason).to.match(/merged/);
      expect(await database.db.collection(NUDGES).find({}, { projection: { _id: 0, contactKey: 1, windowOf: 1 } }).toArray()).to.deep.equal([{ contactKey: P, windowOf: U_REPLIED }]);
      expect(await database.db.collection(INBOUND).find({}, { projection: { _id: 0, contactKey: 1 } }).toArray()).to.deep.equal([{ contactKey: P }]);
    });

    it('the merge is recorded once, done, with the user-id contact as it was', async () => {
      const records = await services.merges.involving([P, U]);
      expect(records.map((r) => [r.from, r.into, r.state])).to.deep.equal([[U, P, 'done']]);
      expect(records[0]?.contact).to.deep.include({ userId: X, profileName: 'anna_username', lastInboundAt: U_REPLIED, sentSinceReply: 0 });
      expect(records[0]?.contact?.subscriptions.wetter?.consent).to.deep.equal(U_CONSENT);
      expect(await database.db.collection(CONTACT_MERGES).findOne({ _id: U as never })).to.have.property('doneAt');
    });

    it('merging again (another worker, a restart) changes nothing, not even what the contact did since', async () => {
      // Since the merge, a paid template went to the person: the counters moved on.
      await services.contacts.countSent([P], true, new Date(NOW.getTime() + HOUR));
      const state = async () => {
        const strip = <T extends Record<string, unknown>>({ updatedAt: _u, doneAt: _d, linkedAt: _l, ...rest }: T) => rest;
        return Promise.all([CONTACTS, CONTACT_IDENTITIES, CONTACT_MERGES, DELIVERIES, NUDGES, INBOUND].map(async (name) => (await database.db.collection(name).find().sort({ _id: 1 }).toArray()).map(strip)));
      };
      const before = await state();
      await services.people.merge(P, U, new Date(NOW.getTime() + 2 * HOUR));
      await services.people.merge(P, U, new Date(NOW.getTime() + 3 * HOUR));
      expect(await state()).to.deep.equal(before);
      expect(await services.contacts.get(P)).to.include({ sentSinceReply: 1, unansweredTemplates: 1 });
    });

    it('a merge a killed process left half-way (recorded, identities moved) is finished by the next start', async () => {
      const [p, x] = ['+4915100000002', '49.BenBsuid02'];
      const u = `user:${x}`;
      await database.db.collection(CONTACTS).insertMany([
        { _id: p, phone: p, status: 'active', identified: true, subscriptions: {}, lastInboundAt: at('2026-05-01T00:00:00Z'), sentSinceReply: 4, unansweredTemplates: 2, createdAt: NOW, updatedAt: NOW },
        { _id: u, userId: x, status: 'active', identified: true, lastInboundAt: at('2026-05-02T00:00:00Z'), sentSinceReply: 0, unansweredTemplates: 0, createdAt: NOW, updatedAt: NOW,
          subscriptions: { wetter: { state: 'subscribed', changedAt: U_CONSENT.at, source: 'keyword', consent: U_CONSENT } } },
      ] as never[]);
      await services.identities.link([{ name: p, contactKey: p }, { name: u, contactKey: u }], NOW);
      // The first two steps of `merge`, then the process died.
      await services.merges.begin(u, p, await services.contacts.get(u), NOW);
      await services.identities.repoint(u, p, NOW);

      expect(await services.people.resumeMerges(NOW)).to.equal(1);
      expect(await services.contacts.get(p)).to.deep.include({ mergedFrom: [u], lastInboundAt: at('2026-05-02T00:00:00Z'), sentSinceReply: 0, unansweredTemplates: 0, userId: x });
      expect((await services.contacts.get(p))?.subscriptions.wetter?.consent).to.deep.equal(U_CONSENT);
      expect(await services.contacts.get(u)).to.include({ mergedInto: p });
      expect((await services.merges.involving([u])).map((r) => r.state)).to.deep.equal(['done']);
      expect(await services.people.resumeMerges(NOW)).to.equal(0);
    });
  });

  describe('resolve: finding the person behind a number and a user id', () => {
    it('a number and a user id seen together first make one contact, which the user id alone leads to later', async () => {
      const person = { phone: '+4915100000101', userId: '49.Together101' };
      expect(await receive(services, person, at('2026-05-01T10:00:00Z'), 'wamid.T1')).to.equal(person.phone);
      expect(await receive(services, { userId: person.userId }, at('2026-05-02T10:00:00Z'), 'wamid.T2')).to.equal(person.phone);
      expect(await liveContactsOf(services, person)).to.deep.equal([person.phone]);
      expect(await services.contacts.get(person.phone)).to.deep.include({ userId: person.userId, lastInboundAt: at('2026-05-02T10:00:00Z') });
      expect(await services.merges.involving([person.phone, `user:${person.userId}`])).to.deep.equal([]);
    });

    it('a number its earlier owner no longer has (their identity moved on) makes a new contact of the next person, under a key of its own', async () => {
      const earlier = { phone: '+4915100000111', userId: '49.Earlier111' };
      expect(await receive(services, earlier, at('2026-05-01T10:00:00Z'), 'wamid.E1')).to.equal(earlier.phone);
      // The earlier owner moved to another number: the old number's identity is gone, their contact keeps its key.
      await services.identities.remove([earlier.phone]);
      const stranger = { phone: earlier.phone, userId: '49.Stranger111' };
      const key = await receive(services, stranger, at('2026-05-03T10:00:00Z'), 'wamid.S1');
      expect(key).to.match(/^c:[\w-]{16}$/);
      expect(await services.contacts.get(key)).to.deep.include({ phone: earlier.phone, userId: stranger.userId });
      expect(await services.contacts.get(earlier.phone), 'the earlier owner untouched').to.deep.include({ userId: earlier.userId, lastInboundAt: at('2026-05-01T10:00:00Z') });
      expect((await services.identities.owners([earlier.phone])).get(earlier.phone)).to.equal(key);
    });

    it('a user-id contact, then the number and the user id together while the number has its own contact: merged into the number\'s', async () => {
      const person = { phone: '+4915100000102', userId: '49.Username102' };
      const u = `user:${person.userId}`;
      expect(await receive(services, { userId: person.userId }, at('2026-05-01T10:00:00Z'), 'wamid.S1')).to.equal(u);
      expect(await services.contacts.applyConversation(u, { subscriptions: { wetter: { state: 'subscribed', changedAt: at('2026-05-01T10:00:00Z'), source: 'keyword' } }, conversationAt: at('2026-05-01T10:00:00Z'), now: NOW })).to.equal(true);
      expect(await receive(services, { phone: person.phone }, at('2026-04-01T10:00:00Z'), 'wamid.S2')).to.equal(person.phone);
      expect(await liveContactsOf(services, person)).to.deep.equal([person.phone, u]);

      expect(await receive(services, person, at('2026-04-02T10:00:00Z'), 'wamid.S3')).to.equal(person.phone);
      expect(await liveContactsOf(services, person)).to.deep.equal([person.phone]);
      const merged = await services.contacts.get(person.phone) as Contact;
      expect(merged).to.deep.include({ mergedFrom: [u], userId: person.userId, lastInboundAt: at('2026-05-01T10:00:00Z') });
      expect(merged.subscriptions.wetter?.state).to.equal('subscribed');
      expect((await services.merges.involving([u])).map((r) => [r.from, r.into, r.state])).to.deep.equal([[u, person.phone, 'done']]);
      expect(await receive(services, { userId: person.userId }, at('2026-05-03T10:00:00Z'), 'wamid.S4')).to.equal(person.phone);
    });

    it('the same new person in two webhooks at once, on one worker or two: one contact key, no merge', async () => {
      const other = await make.another();
      const people = Array.from({ length: 20 }, (_, i) => ({ phone: phoneFor(200 + i), userId: `49.Twice${200 + i}` }));
      const keys = await Promise.all(people.map((person, i) => Promise.all([
        receive(services, person, at('2026-05-01T10:00:00Z'), `wamid.A${i}`),
        receive(i % 2 === 0 ? services : other, person, at('2026-05-01T10:00:01Z'), `wamid.B${i}`),
      ])));
      expect(keys).to.deep.equal(people.map((p) => [p.phone, p.phone]));
      for (const person of people) expect(await liveContactsOf(services, person)).to.deep.equal([person.phone]);
      expect(await services.merges.involving(people.flatMap((p) => [p.phone, `user:${p.userId}`]))).to.deep.equal([]);
      const owners = await services.identities.owners(people.flatMap((p) => [p.phone, `user:${p.userId}`]));
      expect(Object.fromEntries(owners)).to.deep.equal(Object.fromEntries(people.flatMap((p) => [[p.phone, p.phone], [`user:${p.userId}`, p.phone]])));
    });

    it('a known number, then a username message and a message with number and user id at once: still one live contact', async () => {
      const person = { phone: '+4915100000301', userId: '49.Race301' };
      const other = await make.another();
      expect(await receive(services, { phone: person.phone }, at('2026-04-01T10:00:00Z'), 'wamid.R0')).to.equal(person.phone);
      // Worker B meets the new user id alone first and links it to a contact of its own, not stored yet.
      const [early] = await other.people.resolve([{ userId: person.userId }], NOW);
      expect(early).to.equal(`user:${person.userId}`);
      // Worker A meets the number with the same user id: one person, merged into the number's contact.
      expect(await receive(services, person, at('2026-05-01T10:00:00Z'), 'wamid.R1')).to.equal(person.phone);
      // Worker B now records its message under the key it resolved, as the ingest does.
      await other.contacts.recordInbound([{ key: early as string, userId: person.userId, timestamp: at('2026-05-01T10:00:02Z') }], NOW);
      expect(await liveContactsOf(services, person)).to.deep.equal([person.phone]);
      expect((await services.contacts.current(early as string))?.key).to.equal(person.phone);
      // That late write went to the contact that stays: its window moved, the tombstone holds nothing of the person.
      expect((await services.contacts.get(person.phone))?.lastInboundAt?.toISOString()).to.equal('2026-05-01T10:00:02.000Z');
      expect(await services.contacts.get(early as string)).not.to.have.any.keys('userId', 'lastInboundAt', 'phone');
    });

    it('many such people at once on two workers: never two live contacts, at most one merge each', async () => {
      const other = await make.another();
      const people = Array.from({ length: 30 }, (_, i) => ({ phone: phoneFor(400 + i), userId: `49.Pair${400 + i}` }));
      for (const [i, person] of people.entries()) await receive(services, { phone: person.phone }, at('2026-04-01T10:00:00Z'), `wamid.P0${i}`);
      await Promise.all(people.map((person, i) => Promise.all([
        receive(i % 2 === 0 ? services : other, person, at('2026-05-01T10:00:00Z'), `wamid.PA${i}`),
        receive(i % 2 === 0 ? other : services, { userId: person.userId }, at('2026-05-01T10:00:01Z'), `wamid.PB${i}`),
      ])));
      for (const person of people) {
        expect(await liveContactsOf(services, person), person.phone).to.deep.equal([person.phone]);
        expect((await services.merges.involving([person.phone, `user:${person.userId}`])).length).to.be.at.most(1);
        expect(await services.people.keysOf([{ userId: person.userId }])).to.deep.equal([person.phone]);
      }
    });
  });
});

describe('linking contacts stored before identities existed (the migration at start)', function () {
  this.timeout(120_000);
  const clients: MongoClient[] = [];
  const database = useTestDatabase(import.meta.url, async () => {
    for (const client of clients.splice(0)) await client.close();
  });
  const logger = captureLogger('warn').logger;
  const key = testConfig().suppressionKey;

  it('two starts at once link every contact and merge each duplicate once; a third start does nothing', async () => {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    const seeded = await seedLegacyContacts(database.db, { phoneOnly: 800, phoneWithUserId: 600, duplicates: 400, usernameOnly: 200, seed: 14 }, NOW);
    const client = new MongoClient(testServer().uri);
    await client.connect();
    clients.push(client);

    const runs = await Promise.all([linkStoredContacts(database.db, key, logger, NOW), linkStoredContacts(client.db(database.name), key, logger, NOW)]);
    expect(runs.map((r) => r.linked).reduce((a, b) => a + b)).to.be.at.least(2000);
    const report = await checkLinkedContacts(database.db, seeded);
    expect(report.violations).to.deep.equal([]);
    expect(report).to.deep.include({ liveContacts: 1600, identities: 2200, merges: 400, tombstones: 400 });

    const everything = () => Promise.all([CONTACTS, CONTACT_IDENTITIES, CONTACT_MERGES, DELIVERIES].map((name) => database.db.collection(name).find().sort({ _id: 1 }).toArray()));
    const before = await everything();
    expect(await linkStoredContacts(database.db, key, logger, new Date(NOW.getTime() + HOUR))).to.deep.equal({ linked: 0, merged: 0 });
    expect(await everything()).to.deep.equal(before);
  });
});
