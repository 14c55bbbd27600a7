import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { runPublish } from '../support/publish-process.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

interface Listed {
  wamid: string;
  type: string;
  status: string;
  templateName?: string;
  buttons?: { id: string }[];
}

/**
 * A user's restart of `npm start` with the built-in sandbox: a contact subscribed before it, the
 * worker is stopped with SIGTERM and started again, and the next broadcast still reaches the
 * contact as a free session message inside the window the contact opened (before, the restarted
 * sandbox forgot every window: 131047 for each, and a paid template instead).
 */
describe('npm start restarted: the built-in sandbox keeps its windows and messages', function () {
  this.timeout(6 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-restart-'));
  const dbName = testDatabaseName('sandbox-restart');
  const from = '4915112340001';
  const workers: WorkerProcess[] = [];
  let client: MongoClient;
  let db: Db;

  // A forgotten window must show at once as a 131047 answer (failed-status would report it only later).
  const env = () => ({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName, LOG_LEVEL: 'info', SANDBOX_OUTSIDE_WINDOW: 'error' });
  async function startWorker(): Promise<string> {
    const worker = spawnWorker(env());
    workers.push(worker);
    await worker.url(180_000);
    return waitFor('the sandbox URL in the worker log', () => worker.lines.map((l) => /WhatsApp sandbox listening on (http:\/\/[^\s"\\]+)/.exec(l)?.[1]).find(Boolean), 10_000);
  }
  const listed = async (sandboxUrl: string): Promise<Listed[]> => ((await (await fetch(`${sandboxUrl}/_sandbox/messages?to=${from}`)).json()) as { messages: Listed[] }).messages;
  const inbound = (sandboxUrl: string, body: unknown) => fetch(`${sandboxUrl}/_sandbox/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, ...(body as object) }) });

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(dbName);
  });
  after(async () => {
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    await db.dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a contact subscribed before the restart gets the next broadcast as a session message, and /_sandbox/messages still lists what came before', async () => {
    const firstSandbox = await startWorker();
    expect((await inbound(firstSandbox, { text: 'Fallzahlen' })).status).to.equal(200);
    await waitFor('the consent question', async () => (await listed(firstSandbox)).some((m) => m.type === 'interactive'), 60_000, 200);
    expect((await inbound(firstSandbox, { button: { id: 'yes:fallzahlen' } })).status).to.equal(200);
    await waitFor('the contact to be subscribed', async () => (await db.collection<{ _id: string; subscriptions: Record<string, { state: string }> }>(CONTACTS).findOne({ _id: `+${from}` }))?.subscriptions.fallzahlen?.state === 'subscribed', 60_000, 200);
    const before = await waitFor('the confirmation and every status of it', async () => {
      const messages = await listed(firstSandbox);
      return messages.length >= 2 && messages.every((m) => m.status === 'delivered' || m.status === 'read') ? messages : undefined;
    }, 60_000, 200);

    const first = workers[0] as WorkerProcess;
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);
    const secondSandbox = await startWorker();

    const data = join(dir, 'data.json');
    writeFileSync(data, JSON.stringify({ date: '2026-11-20T09:00:00Z', cases: 1234, new_cases: 56 }));
    const published = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--yes', '--json']);
    expect(published.code, published.stderr).to.equal(0);
    const known = new Set(before.map((m) => m.wamid));
    const after = await waitFor('the broadcast in /_sandbox/messages', async () => {
      const messages = (await listed(secondSandbox)).filter((m) => !known.has(m.wamid));
      return messages.length > 0 ? messages : undefined;
    }, 120_000, 200);
    expect(after.map((m) => m.type), 'a free session message, no paid template after a 131047').to.deep.equal(['text']);

    const kept = (await listed(secondSandbox)).filter((m) => known.has(m.wamid));
    expect(kept.map((m) => [m.wamid, m.type])).to.deep.equal(before.map((m) => [m.wamid, m.type]));
    // Their statuses as reported before the restart, or later ones (a read can follow a delivered).
    expect(kept.map((m) => m.status)).to.satisfy((statuses: string[]) => statuses.every((s) => s === 'delivered' || s === 'read'));
    expect(kept.find((m) => m.type === 'interactive')?.buttons?.map((b) => b.id)).to.deep.equal(['yes:fallzahlen', 'no:fallzahlen']);
    const second = workers[1] as WorkerProcess;
    expect(second.lines.some((l) => l.includes('131047')), 'no 131047 in the worker log').to.equal(false);
    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});
