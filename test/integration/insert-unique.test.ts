import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { insertUnique } from '../../src/store/database.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { useTestDatabase } from '../support/test-server.js';

/**
 * insertUnique is how claims, pace slots and webhook events are stored: whatever it reports as
 * stored, this process then acts on (sends, uses the slot, answers Meta). A lost connection must
 * therefore never read as "stored" (the chaos run found a broadcast sent twice that way).
 */
describe('insertUnique: unique inserts as claims', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);

  it('reports which documents it stored and which another writer had', async () => {
    const claims = database.db.collection<{ _id: string }>('claims_unique');
    expect(await insertUnique(claims, [{ _id: 'a' }, { _id: 'b' }])).to.deep.equal([true, true]);
    expect(await insertUnique(claims, [{ _id: 'b' }, { _id: 'c' }, { _id: 'a' }])).to.deep.equal([false, true, false]);
    expect(await claims.countDocuments()).to.equal(3);
  });

  it('throws when the connection is lost during the insert, instead of reporting the documents as stored', async () => {
    const target = new URL(database.uri);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 27017));
    await proxy.start();
    const client = new MongoClient(`mongodb://127.0.0.1:${proxy.port}/`, { serverSelectionTimeoutMS: 1500, retryWrites: false });
    try {
      const claims = (await client.connect()).db(database.name).collection<{ _id: string }>('claims_lost');
      await claims.insertOne({ _id: 'warm-up' });
      proxy.cut();
      let outcome: unknown;
      try {
        outcome = await insertUnique(claims, [{ _id: 'x' }, { _id: 'y' }]);
      } catch (err) {
        outcome = err;
      }
      expect(outcome, 'an error, not a list of claims won').to.be.instanceOf(Error);
      proxy.restore();
      expect(await database.db.collection('claims_lost').countDocuments({ _id: { $in: ['x', 'y'] } as never })).to.equal(0);
    } finally {
      proxy.restore();
      await client.close();
      await proxy.stop();
    }
  });
});
