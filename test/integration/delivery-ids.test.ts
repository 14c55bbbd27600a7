import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { DELIVERIES, DELIVERY_ATTEMPTS, DeliveryRepository } from '../../src/store/delivery-repository.js';
import { migrateLegacyDeliveryIds } from '../../src/store/legacy-delivery-ids.js';
import { RECENT_PSEUDONYMS, SETTINGS } from '../../src/store/pseudonyms.js';
import { INBOUND, PREFERENCE_EVENTS, WebhookEventRepository, inboundKey } from '../../src/store/webhook-event-repository.js';
import type { InboundMessageEvent, UserPreferenceEvent } from '../../src/whatsapp/webhook-parser.js';
import { testDatabaseName, useTestDatabase } from '../support/test-server.js';

const T = new Date('2026-11-20T12:00:00Z');
const PHONE = '+4915112345678';
const WA_ID = '4915112345678';
const USER = 'user:DE.1349120865530274191';
const ID_SHAPE = /^dl:b1:[A-Za-z0-9_-]{22}$/;

/** A second connection to the same database, as a second worker process has. */
async function secondWorker(uri: string, name: string): Promise<{ client: MongoClient; deliveries: DeliveryRepository }> {
  const client = await new MongoClient(uri).connect();
  return { client, deliveries: new DeliveryRepository(client.db(name)) };
}

describe('delivery ids and stored event ids: no phone number in clear', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);

  it('every worker of a database makes the same id for a broadcast and contact, without the number or user id', async () => {
    const other = await secondWorker(database.uri, database.name);
    try {
      const [mine, theirs] = await Promise.all([new DeliveryRepository(database.db).ids(), other.deliveries.ids()]);
      expect(await database.db.collection(SETTINGS).countDocuments(), 'one key, whoever created it first').to.equal(1);
      for (const key of [PHONE, USER]) {
        const id = mine('b1', key);
        expect(id).to.match(ID_SHAPE);
        expect(theirs('b1', key)).to.equal(id);
        expect(id).not.to.include(WA_ID.slice(2)).and.not.to.include('1349120865530274191');
      }
      expect(mine('b1', PHONE)).not.to.equal(mine('b1', '+4915112345679'));
      expect(mine('b2', PHONE)).to.equal(mine('b1', PHONE).replace('dl:b1:', 'dl:b2:'), 'one pseudonym per contact');
    } finally {
      await other.client.close();
    }
  });

  it('ids stay the same while the pseudonyms made lately are remembered, and after that memory was emptied', async () => {
    const repo = new DeliveryRepository(database.db);
    const ids = await repo.ids();
    const first = ids('b1', PHONE);
    const others = Array.from({ length: RECENT_PSEUDONYMS + 10 }, (_, i) => ids('b1', `+49151${String(i).padStart(8, '0')}`));
    expect(new Set(others).size, 'a different id for each contact').to.equal(others.length);
    expect(ids('b1', PHONE)).to.equal(first);
    expect(await repo.idOf('b1', PHONE)).to.equal(first);
    // A fresh repository (nothing remembered) makes the same ids.
    const fresh = await new DeliveryRepository(database.db).ids();
    expect(fresh('b1', PHONE)).to.equal(first);
    expect(fresh('b1', '+4915100000007')).to.equal(others[7]);
  });

  it('another database has its own key: its ids cannot be matched against this one', async () => {
    const name = testDatabaseName('delivery-ids-other');
    const other = await secondWorker(database.uri, name);
    try {
      expect(await other.deliveries.idOf('b1', PHONE)).to.match(ID_SHAPE).and.not.to.equal(await new DeliveryRepository(database.db).idOf('b1', PHONE));
    } finally {
      await other.client.db(name).dropDatabase();
      await other.client.close();
    }
  });

  it('one delivery per broadcast and contact: of two workers claiming at once one wins, and the record keeps the contact key', async () => {
    const other = await secondWorker(database.uri, database.name);
    try {
      const mine = new DeliveryRepository(database.db);
      const won = await Promise.all([mine.claim('b3', PHONE, 'template', 0.05, T, undefined), other.deliveries.claim('b3', PHONE, 'template', 0.05, T, undefined)]);
      expect(won.filter(Boolean)).to.have.length(1);
      const id = await mine.idOf('b3', PHONE);
      expect(await mine.get(id)).to.deep.include({ id, broadcastId: 'b3', contactKey: PHONE, state: 'sending' });
      await mine.skip('b3', PHONE, 'suppressed', T);
      expect((await mine.get(id))?.state, 'the existing record wins over a skip').to.equal('sending');
      // The retry claims `<id>#2`, once.
      expect(await Promise.all([mine.claim('b3', PHONE, 'template', 0.05, T, 1), other.deliveries.claim('b3', PHONE, 'template', 0.05, T, 1)])).to.have.members([true, false]);
      expect(await database.db.collection(DELIVERY_ATTEMPTS).countDocuments({ _id: `${id}#2` as never })).to.equal(1);
      await mine.markSent(id, 'wamid.B3', T);
      const [applied] = await mine.applyStatuses([{ id, wamid: 'wamid.B3', status: 'delivered' }], T);
      expect(applied).to.deep.equal({ found: true });
      expect((await mine.get(id))?.state).to.equal('delivered');
    } finally {
      await other.client.close();
    }
  });

  it('inbound messages and preference events are stored under the sender\'s pseudonym; the ingest still gets its keys in clear', async () => {
    const events = new WebhookEventRepository(database.db);
    const message = { id: 'wamid.IN1', from: WA_ID, phone: PHONE, timestamp: T, kind: 'text', text: 'Hallo' } as unknown as InboundMessageEvent;
    const fresh = await events.addInbound([{ contactKey: PHONE, event: message }], T);
    expect([...fresh]).to.deep.equal([inboundKey(message)]);
    expect(await events.addInbound([{ contactKey: PHONE, event: message }], T), 'the same message again').to.have.property('size', 0);
    const [stored] = await database.db.collection<{ _id: string }>(INBOUND).find().toArray();
    expect(stored?._id).to.match(/^[A-Za-z0-9_-]{22}\|wamid\.IN1$/);
    const claimed = await events.claimInbound({ id: stored?._id as string, attempts: 0 }, T);
    expect(claimed?.id, 'the id a reply\'s callback data is made from').to.equal(stored?._id).and.not.to.include(WA_ID);

    const preference = { waId: WA_ID, category: 'marketing_messages', value: 'stop', timestamp: T } as unknown as UserPreferenceEvent;
    const freshPreferences = await events.addPreferences([{ contactKey: PHONE, event: preference }], T);
    expect(freshPreferences.size).to.equal(1);
    expect((await events.addPreferences([{ contactKey: PHONE, event: preference }], T)).size).to.equal(0);
    const [pref] = await database.db.collection<{ _id: string }>(PREFERENCE_EVENTS).find().toArray();
    expect(pref?._id).not.to.include(WA_ID);
  });

  it('deliveries written with the number in their id are renamed once, with their attempts, and old callback data still finds them', async () => {
    const name = testDatabaseName('delivery-ids-legacy');
    const client = await new MongoClient(database.uri).connect();
    try {
      const db = client.db(name);
      const legacy = (key: string) => `dl:b9:${key}`;
      await db.collection<{ _id: string } & Record<string, unknown>>(DELIVERIES).insertMany([
        { _id: legacy(PHONE), broadcastId: 'b9', contactKey: PHONE, state: 'sending', rank: 1, wamid: 'wamid.OLD1', attempts: 2, updatedAt: T },
        { _id: legacy(USER), broadcastId: 'b9', contactKey: USER, state: 'skipped', rank: 5, reason: 'pending-consent', attempts: 0, updatedAt: T },
      ]);
      await db.collection<{ _id: string; at: Date }>(DELIVERY_ATTEMPTS).insertOne({ _id: `${legacy(PHONE)}#2`, at: T });
      // Two workers starting at once both run it.
      expect((await Promise.all([migrateLegacyDeliveryIds(db), migrateLegacyDeliveryIds(db)])).reduce((a, b) => a + b)).to.be.at.least(2);
      expect(await migrateLegacyDeliveryIds(db), 'once per database').to.equal(0);

      const deliveries = new DeliveryRepository(db);
      const ids = (await db.collection<{ _id: string }>(DELIVERIES).find().toArray()).map((d) => d._id).sort();
      expect(ids).to.deep.equal([await deliveries.idOf('b9', PHONE), await deliveries.idOf('b9', USER)].sort());
      expect(JSON.stringify(ids)).not.to.include(WA_ID).and.not.to.include('DE.');
      const attempts = (await db.collection<{ _id: string }>(DELIVERY_ATTEMPTS).find().toArray()).map((d) => d._id);
      expect(attempts).to.deep.equal([`${await deliveries.idOf('b9', PHONE)}#2`]);
      // A broadcast that goes on after the upgrade does not claim (and send) the contact again.
      expect(await deliveries.claim('b9', PHONE, 'template', 0.05, T, undefined)).to.equal(false);
      expect(await deliveries.claim('b9', PHONE, 'template', 0.05, T, 1)).to.equal(false);
      // A status for a message sent before the upgrade carries the old id: found by its wamid.
      const [found] = await deliveries.applyStatuses([{ id: legacy(PHONE), wamid: 'wamid.OLD1', status: 'read' }], T);
      expect(found).to.deep.equal({ found: true });
      expect((await deliveries.get(await deliveries.idOf('b9', PHONE)))?.state).to.equal('read');
    } finally {
      await client.db(name).dropDatabase();
      await client.close();
    }
  });
});
