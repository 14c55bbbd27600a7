import { expect } from 'chai';
import { MongoClient, type CommandSucceededEvent } from 'mongodb';
import { ContactRepository } from '../../src/store/contact-repository.js';
import { seedSubscribers } from '../support/seed.js';
import { useTestDatabase } from '../support/test-server.js';

/**
 * Streaming a topic's contacts (publish's plan, the fan-out's cut into batches) holds a bounded
 * number of them at a time, however many there are: each answer of the server carries at most
 * 1,000. Left to the server, a batch is filled up to 16 MB (mongo-java-server: all 2,500 in
 * the first), and a publish to 100,000 subscribers ran out of a 160 MB heap.
 */
describe('a topic\'s contacts streamed in bounded batches', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const SUBSCRIBERS = 2500;

  for (const keysOnly of [false, true]) {
    it(`${keysOnly ? 'keys only' : 'whole contacts'}: every subscriber, at most 1,000 per answer`, async () => {
      if (!keysOnly) await seedSubscribers(database.db, { count: SUBSCRIBERS, topic: 'fallzahlen' });
      const client = new MongoClient(database.uri, { monitorCommands: true });
      const batches: number[] = [];
      client.on('commandSucceeded', (event: CommandSucceededEvent) => {
        const cursor = (event.reply as { cursor?: { firstBatch?: unknown[]; nextBatch?: unknown[] } }).cursor;
        if (event.commandName === 'find' || event.commandName === 'getMore') batches.push((cursor?.firstBatch ?? cursor?.nextBatch ?? []).length);
      });
      try {
        await client.connect();
        const keys: string[] = [];
        for await (const contact of new ContactRepository(client.db(database.name)).streamTopic('fallzahlen', { keysOnly })) keys.push(contact.key);
        expect(keys).to.have.length(SUBSCRIBERS);
        expect(new Set(keys).size).to.equal(SUBSCRIBERS);
        expect(Math.max(...batches), `documents per answer: ${batches.join(', ')}`).to.be.at.most(1000);
      } finally {
        await client.close();
      }
    });
  }
});
