import { expect } from 'chai';
import { MongoError } from 'mongodb';
import { connectDatabase, type Database } from '../../src/store/database.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { testServer, useTestDatabase } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

describe('a database that stops answering in the middle of a large write', function () {
  this.timeout(120_000);
  const database = useTestDatabase(import.meta.url);
  let proxy: TcpProxy;
  let connection: Database | undefined;

  before(async () => {
    const target = new URL(testServer().uri);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
  });
  after(async () => {
    await proxy.stop();
    await connection?.client.close(true).catch(() => undefined);
  });

  it('the write fails once the driver gives up the connection, instead of waiting for ever', async () => {
    // The worker's own connection: once a heartbeat has gone unanswered (about 15 s), the driver
    // clears its pool and drops the connections in use. src/store/driver-repair.ts.
    connection = await connectDatabase(`mongodb://127.0.0.1:${proxy.port}/`, database.name);
    const collection = connection.db.collection('large_writes');
    await collection.insertOne({ before: true });
    proxy.freeze();
    // 24 MB in one command: more than the sockets' buffers take, so the request waits for the
    // socket to drain, which it never will.
    const page = 'x'.repeat(1024 * 1024);
    let outcome: unknown;
    collection.insertMany(Array.from({ length: 24 }, (_, i) => ({ i, page }))).then(() => (outcome = 'stored'), (err: unknown) => (outcome = err));
    await waitFor('the large write to settle', () => outcome, 60_000, 100);
    expect(outcome).to.be.instanceOf(MongoError);
  });
});
