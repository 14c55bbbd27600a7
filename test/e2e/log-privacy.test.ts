import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { DELIVERIES } from '../../src/store/delivery-repository.js';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { runPublish } from '../support/publish-process.js';
import { sandboxCall } from '../support/sandbox-http.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

interface SandboxMessage {
  to: string;
  type: string;
  body?: string;
  callbackData?: string;
}

/** Three subscribers; the last one's broadcast message is refused (131026), which the worker logs. */
const PHONES = ['+4915170010501', '+4915170010502', '+4915170010503'];
const NAME = 'Erika Mustermann';
const QUESTION = 'Wann kommen die neuen Zahlen für den Kreis Wesel?';

/** The ways a number could show in a line: with and without `+`, and its last seven digits alone. */
const numberForms = (phone: string) => [phone, phone.slice(1), phone.slice(-7)];

/** Lines of a text a log line could quote (a JSON line escapes line breaks, so each line alone). */
const textParts = (text: string) => text.split('\n').map((line) => line.trim()).filter((line) => line.length >= 12);

/**
 * LOG_PII=false as a user runs it: a worker process with its built-in sandbox, contacts who
 * write and subscribe, a published broadcast (one message refused) and its status webhooks.
 * No line of any process may show a phone number or a message text, and no id that leaves the
 * database (delivery ids, callback data sent to WhatsApp) may hold a number.
 */
describe('LOG_PII=false: no phone number or message text in any log line, no number in any id', function () {
  this.timeout(4 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'log-privacy-'));
  const dbName = testDatabaseName('log-privacy');
  let client: MongoClient;
  let db: Db;
  let worker: WorkerProcess;
  let sandboxUrl: string;
  const output: string[] = [];
  /** What the sandbox received (GET /_sandbox/messages), read before the worker and its built-in sandbox stop. */
  let received: SandboxMessage[] = [];
  const env = () => ({ MONGODB_URI: testServer().uri, MONGODB_DB: dbName, LOG_PII: 'false' });

  const inbound = async (body: Record<string, unknown>) => {
    const answer = await sandboxCall<{ delivered?: boolean }>(sandboxUrl, 'POST', '/_sandbox/inbound', body);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
  };
  const sandboxMessages = async () => (await sandboxCall<{ messages: SandboxMessage[] }>(sandboxUrl, 'GET', '/_sandbox/messages')).body.messages;

  before(async function () {
    this.timeout(4 * 60_000);
    client = await new MongoClient(testServer().uri).connect();
    db = client.db(dbName);
    worker = spawnWorker({ ...env(), LOG_LEVEL: 'debug', JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '3000' });
    await worker.url(180_000);
    sandboxUrl = await waitFor('the sandbox URL in the log', () => worker.lines.map((line) => /sandbox listening on (http:\/\/[^\s"\\]+)/.exec(line)?.[1]).find(Boolean));

    for (const phone of PHONES) {
      await inbound({ from: phone, text: 'Fallzahlen', name: NAME });
      await waitFor(`the consent question to ${phone}`, async () => (await sandboxMessages()).some((m) => m.to === phone.slice(1) && m.type === 'interactive'), 60_000);
      await inbound({ from: phone.slice(1), button: { id: 'yes:fallzahlen', title: 'Ja' } });
    }
    await waitFor('every contact to be subscribed', async () => (await db.collection(CONTACTS).countDocuments({ 'subscriptions.fallzahlen.state': 'subscribed' })) === PHONES.length, 60_000);
    await inbound({ from: PHONES[0], text: QUESTION });
    await waitFor('every inbound message to be handled', async () => (await db.collection(INBOUND).countDocuments({ state: { $ne: 'done' } })) === 0 && (await db.collection(INBOUND).countDocuments()) === 2 * PHONES.length + 1, 60_000);

    const refused = await sandboxCall(sandboxUrl, 'POST', '/_sandbox/contacts', { phone: PHONES[2], forceError: { code: 131026, times: 1 } });
    expect(refused.status).to.equal(200);
    const data = join(dir, 'data.json');
    writeFileSync(data, JSON.stringify({ date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 }));
    const published = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--yes', '--json']);
    output.push(...published.stdout.split('\n'), ...published.stderr.split('\n'));
    expect(published.code, published.stderr).to.equal(0);
    const id = (JSON.parse(published.stdout) as { id: string }).id;
    await waitFor('the broadcast to be done', async () => (await db.collection<{ _id: string; status: string }>(BROADCASTS).findOne({ _id: id }))?.status === 'done', 120_000, 250);
    // Status webhooks applied: the two sent messages delivered (or read), the refused one failed.
    await waitFor('the status webhooks to be applied', async () => {
      const rows = await db.collection<{ state: string; rank: number }>(DELIVERIES).find({ broadcastId: id }).toArray();
      return rows.length === PHONES.length && rows.filter((r) => r.rank >= 2 && r.rank <= 3).length === 2 && rows.some((r) => r.state === 'failed');
    }, 120_000, 250);
    received = await sandboxMessages();

    worker.child.kill('SIGTERM');
    await worker.exited;
    output.push(...worker.lines);
  });

  after(async () => {
    if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await worker.exited;
    await db.dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logged the run: the refused message, the inbound handling and the jobs', () => {
    expect(output.some((line) => line.includes('message refused')), 'the refused send was logged').to.equal(true);
    expect(output.some((line) => line.includes('inbound handled'))).to.equal(true);
    expect(output.filter((line) => line.startsWith('{')).length).to.be.greaterThan(10);
  });

  it('no line shows a phone number, with or without +', () => {
    for (const phone of PHONES) {
      for (const form of numberForms(phone)) {
        const found = output.filter((line) => line.includes(form));
        expect(found, `${form} in the log`).to.deep.equal([]);
      }
    }
  });

  it('no line shows a message text: neither what the contacts wrote nor what they were sent', () => {
    const texts = [QUESTION, NAME, ...received.flatMap((m) => (m.body ? textParts(m.body) : []))];
    expect(received.some((m) => m.body?.includes('12.345')), 'the broadcast text is among them').to.equal(true);
    for (const text of texts) {
      const found = output.filter((line) => line.includes(text));
      expect(found, `"${text}" in the log`).to.deep.equal([]);
    }
  });

  it('delivery ids and the callback data WhatsApp received hold no phone number', async () => {
    const ids = (await db.collection<{ _id: string }>(DELIVERIES).find().toArray()).map((d) => d._id);
    expect(ids).to.have.length(PHONES.length);
    for (const id of ids) expect(id).to.match(/^dl:b[a-z0-9]+:[A-Za-z0-9_-]{22}$/);
    const callbacks = received.map((m) => m.callbackData ?? '');
    expect(callbacks.filter((c) => c.startsWith('reply:')).length, 'replies of the conversation').to.be.greaterThan(0);
    expect(callbacks.filter((c) => c.startsWith('dl:')).length, 'broadcast messages accepted (the third was refused)').to.equal(PHONES.length - 1);
    for (const value of [...ids, ...callbacks]) {
      for (const phone of PHONES) for (const form of numberForms(phone)) expect(value).not.to.include(form);
    }
  });
});
