import { expect } from 'chai';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { WebhookBatchRepository, WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { STATUS_EVENTS, WebhookEventRepository } from '../../src/store/webhook-event-repository.js';
import type { StatusEvent } from '../../src/whatsapp/webhook-parser.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { useTestDatabase } from '../support/test-server.js';

/**
 * The webhook answers Meta after one durable write of the POST's body. POSTs that arrive
 * together share that write: one insert for all of them, each POST answered once the write
 * holding its own document is acknowledged, and every POST of a failed write told so.
 */
describe('webhook batches and status events: POSTs received together are written together', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const now = new Date('2026-11-23T12:00:00Z');

  it('adds made at the same moment go in one insert, each answered with the id of its own body', async () => {
    const client = new MongoClient(database.uri, { monitorCommands: true });
    const inserts: CommandStartedEvent[] = [];
    client.on('commandStarted', (event) => {
      if (event.commandName === 'insert') inserts.push(event);
    });
    try {
      const batches = new WebhookBatchRepository((await client.connect()).db(database.name));
      const bodies = Array.from({ length: 6 }, (_, i) => Buffer.from(`{"post":${i}}`));
      const ids = await Promise.all(bodies.map((body) => batches.add(body, now, 60_000)));
      expect(inserts, 'one insert for the six POSTs').to.have.length(1);
      expect(inserts[0]?.command.documents).to.have.length(6);
      expect(inserts[0]?.command.ordered).to.equal(false);
      expect(new Set(ids).size).to.equal(6);

      // Each id names its own body, leased as asked (taken once the lease has run out).
      const later = new Date(now.getTime() + 60_000);
      const taken = new Map<string, string>();
      for (let batch = await batches.takeAbandoned(later, 60_000); batch; batch = await batches.takeAbandoned(later, 60_000)) taken.set(batch.id, batch.body.toString());
      expect(ids.map((id) => taken.get(id))).to.deep.equal(bodies.map(String));

      // A POST arriving after the write has started goes in a write of its own.
      const [sameTurn, late] = await Promise.all([batches.add(Buffer.from('{"post":6}'), now, 60_000), new Promise<string>((resolve, reject) => setImmediate(() => batches.add(Buffer.from('{"post":7}'), now, 60_000).then(resolve, reject)))]);
      expect(inserts).to.have.length(3);
      await batches.remove([...ids, sameTurn, late]);
    } finally {
      await client.close();
    }
  });

  it('statuses stored at the same moment go in one insert; a status two POSTs carry is new for the first only', async () => {
    const client = new MongoClient(database.uri, { monitorCommands: true });
    const inserts: CommandStartedEvent[] = [];
    client.on('commandStarted', (event) => {
      if (event.commandName === 'insert') inserts.push(event);
    });
    try {
      const events = new WebhookEventRepository((await client.connect()).db(database.name));
      const status = (id: string, value: StatusEvent['status']): StatusEvent => ({ type: 'status', wabaId: 'waba', phoneNumberId: 'phone-number', id, status: value, timestamp: now });
      const posts = [
        [status('wamid.SHARED.1', 'sent')],
        [status('wamid.SHARED.1', 'delivered'), status('wamid.SHARED.2', 'sent')],
        [status('wamid.SHARED.1', 'delivered')], // Meta's retry of the one before, arriving with it
        [],
      ];
      const stored = await Promise.all(posts.map((post) => events.addStatuses(post, now)));
      expect(inserts, 'one insert for the POSTs').to.have.length(1);
      expect(stored.map((post) => post.map((s) => s.key))).to.deep.equal([['wamid.SHARED.1:sent'], ['wamid.SHARED.1:delivered', 'wamid.SHARED.2:sent'], [], []]);
      expect(await database.db.collection(STATUS_EVENTS).countDocuments({ 'event.id': /^wamid\.SHARED\./ })).to.equal(3);

      // Sent again later: stored already, so nothing is new and nothing is applied twice.
      expect(await events.addStatuses([status('wamid.SHARED.2', 'sent'), status('wamid.SHARED.2', 'read')], now)).to.deep.equal([
        { key: 'wamid.SHARED.2:read', event: status('wamid.SHARED.2', 'read'), receivedAt: now },
      ]);
    } finally {
      await client.close();
    }
  });

  it('a write that fails fails every POST it holds; the next write stores again', async () => {
    const target = new URL(database.uri);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 27017));
    await proxy.start();
    const client = new MongoClient(`mongodb://127.0.0.1:${proxy.port}/`, { serverSelectionTimeoutMS: 1500, retryWrites: false });
    try {
      const batches = new WebhookBatchRepository((await client.connect()).db(database.name));
      await batches.add(Buffer.from('{"warm":"up"}'), now, 60_000);
      proxy.cut();
      const outcomes = await Promise.allSettled([1, 2, 3].map((i) => batches.add(Buffer.from(`{"lost":${i}}`), now, 60_000)));
      expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
      proxy.restore();
      expect(await database.db.collection(WEBHOOK_BATCHES).countDocuments({ body: { $exists: true } })).to.equal(1, 'only the warm-up batch');

      const again = await Promise.all([1, 2].map((i) => batches.add(Buffer.from(`{"retried":${i}}`), now, 60_000)));
      expect(await database.db.collection(WEBHOOK_BATCHES).countDocuments()).to.equal(3);
      await batches.remove(again);
    } finally {
      proxy.restore();
      await client.close();
      await proxy.stop();
    }
  });
});
