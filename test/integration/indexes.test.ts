import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { useTestDatabase } from '../support/test-server.js';

describe('index declarations', () => {
  const database = useTestDatabase(import.meta.url);

  it('creates every declared index under its name, again at a restart, and from two workers at once', async () => {
    const other = new MongoClient(database.uri);
    try {
      await Promise.all([ensureIndexes(database.db, INDEX_DECLARATIONS), ensureIndexes(other.db(database.name), INDEX_DECLARATIONS)]);
      await ensureIndexes(database.db, INDEX_DECLARATIONS); // a restart
    } finally {
      await other.close();
    }
    for (const { collection, indexes } of INDEX_DECLARATIONS) {
      const names = (await database.db.collection(collection).indexes()).map((i) => i.name);
      expect(names, collection).to.include.members(indexes.map((i) => i.name));
    }
  });
});
