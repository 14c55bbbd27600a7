import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { systemClock } from '../../src/app/system-clock.js';
import { BROADCASTS } from '../../src/store/broadcast-repository.js';
import { DELIVERIES, DELIVERY_ATTEMPTS, DeliveryRepository, type DeliveryIds } from '../../src/store/delivery-repository.js';
import { WEBHOOK_BATCHES } from '../../src/store/webhook-batch-repository.js';
import { STATUS_EVENTS } from '../../src/store/webhook-event-repository.js';
import { startSandbox, type Sandbox } from '../../src/whatsapp/sandbox/sandbox-server.js';
import { spawnCommand } from '../support/command-process.js';
import { runPublish } from '../support/publish-process.js';
import { seedSubscribers } from '../support/seed.js';
import { EXTERNAL_API_CREDENTIALS } from '../support/test-config.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

interface Report {
  id: string;
  status: string;
  deliveries: Record<string, number>;
  progress: { sendingFinished: boolean; awaitingReport: number; overdueReport: number; settled: boolean; resendableUnknown: number; resentUnknown: number };
}

/**
 * What an editor does after publishing, as processes against a running worker process (its
 * WhatsApp API a sandbox in this process, so the test can switch status webhooks off).
 */
describe('npm run publish after sending: --status, --watch and --resend-unknown with a running worker', function () {
  this.timeout(6 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'publish-follow-up-'));
  const dbName = testDatabaseName('publish-follow-up');
  let client: MongoClient;
  let db: Db;
  let sandbox: Sandbox;
  /** Every status the sandbox planned is sent, stored and applied by the worker. */
  const statusesApplied = () => waitFor('every status webhook to be sent, stored and applied', async () => {
    const { inFlight, pending } = sandbox.webhookStats;
    return sandbox.pendingStatuses === 0 && inFlight === 0 && pending === 0
      && (await db.collection(WEBHOOK_BATCHES).countDocuments()) === 0 && (await db.collection(STATUS_EVENTS).countDocuments({ applied: false })) === 0;
  }, 60_000, 100);
  let worker: WorkerProcess;
  let webhookUrl: string;
  let phones: string[];
  let published = 0;
  const env = () => ({ ...EXTERNAL_API_CREDENTIALS, MONGODB_URI: testServer().uri, MONGODB_DB: dbName, WHATSAPP_API_BASE: sandbox.url, LOG_LEVEL: 'warn' });

  /** Publishes new content (a new key each time) to the three subscribers; returns the broadcast id. */
  async function publish(): Promise<string> {
    published += 1;
    const data = join(dir, `data-${published}.json`);
    writeFileSync(data, JSON.stringify({ date: '2026-11-20T09:00:00Z', cases: 1000 + published, new_cases: published }));
    const result = await runPublish(env(), ['--topic', 'fallzahlen', '--data', data, '--yes', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    return (JSON.parse(result.stdout) as { id: string }).id;
  }

  const broadcastStatus = async (id: string) => (await db.collection<{ _id: string; status: string }>(BROADCASTS).findOne({ _id: id }))?.status;
  const waitDone = (id: string) => waitFor(`broadcast ${id} to be done`, async () => (await broadcastStatus(id)) === 'done', 120_000, 200);
  /** Everything stored about a broadcast, to show that a command changed nothing. */
  const snapshot = async (id: string) => ({
    broadcast: await db.collection(BROADCASTS).findOne({ _id: id as never }),
    deliveries: await db.collection(DELIVERIES).find({ broadcastId: id }).sort({ _id: 1 }).toArray(),
    attempts: await db.collection(DELIVERY_ATTEMPTS).countDocuments(),
  });

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(dbName);
    phones = await seedSubscribers(db, { count: 3, from: 71000000 });
    sandbox = await startSandbox({ clock: systemClock, token: EXTERNAL_API_CREDENTIALS.WHATSAPP_TOKEN, phoneNumberId: '100000000000001', appSecret: EXTERNAL_API_CREDENTIALS.WHATSAPP_APP_SECRET, mps: 0, pairRate: false });
    worker = spawnWorker({ ...env(), LOG_LEVEL: 'info', JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '3000' });
    webhookUrl = `${await worker.url(180_000)}/webhooks/whatsapp`;
    sandbox.setWebhookUrl(webhookUrl);
  });
  after(async () => {
    if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
    await worker.exited;
    await sandbox.stop();
    await db.dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('--status and --watch', () => {
    let waiting: string;

    it('--watch --json prints one JSON object per update until the broadcast is settled, then exits 0', async () => {
      const id = await publish();
      const result = await runPublish(env(), ['--status', id, '--watch', '--json']);
      expect(result.code, result.stderr).to.equal(0);
      const updates = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Report);
      expect(updates.every((u) => u.id === id)).to.equal(true);
      const last = updates.at(-1) as Report;
      expect(last.progress).to.deep.include({ sendingFinished: true, awaitingReport: 0, settled: true });
      expect((last.deliveries.delivered ?? 0) + (last.deliveries.read ?? 0)).to.equal(3);
      expect(updates.slice(0, -1).every((u) => !u.progress.settled), 'only the last update is settled').to.equal(true);
    });

    it('--status of a finished broadcast says how many sent messages still wait for a delivery report, not just done', async () => {
      sandbox.setWebhookUrl(undefined); // no status webhooks: every message stays `sent`
      waiting = await publish();
      await waitDone(waiting);
      const text = await runPublish(env(), ['--status', waiting]);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(/status:\s+done sending, not settled: 3 sent messages still wait for a delivery report/);
      expect(text.stdout).to.match(/settled:\s+no: 3 of 3 sent messages have no delivery report yet/);
      expect(text.stdout).to.match(/sent \(no delivery report yet\):\s+3/);
      const json = await runPublish(env(), ['--status', waiting, '--json']);
      expect((JSON.parse(json.stdout) as Report).progress).to.deep.include({ sendingFinished: true, awaitingReport: 3, overdueReport: 0, settled: false });
    });

    it('Ctrl-C stops --watch with exit code 0 and changes nothing', async () => {
      const before = await snapshot(waiting);
      const watch = spawnCommand('publish.ts', env(), ['--status', waiting, '--watch', '--json']);
      await waitFor('the first update of --watch', () => watch.stdout.includes('\n'), 60_000);
      watch.child.kill('SIGINT');
      const result = await watch.exited;
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stderr).to.match(/stopped watching broadcast \S+ .*; nothing was changed/);
      expect((JSON.parse(result.stdout.trim().split('\n')[0] ?? '') as Report).progress.settled).to.equal(false);
      expect(await snapshot(waiting)).to.deep.equal(before);
    });

    it('messages waiting longer than --report-wait no longer keep it from being settled; plain text without --json', async () => {
      const result = await runPublish(env(), ['--status', waiting, '--watch', '--report-wait', '1']);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.match(/status:\s+done: sending finished, 3 sent messages had no delivery report within 1 s/);
      expect(result.stdout).to.match(/settled:\s+yes; 3 sent messages have had no delivery report for more than 1 s/);
      expect(result.stdout).to.match(/broadcast \S+ settled$/m);
      expect(result.stderr, 'plain progress lines on stderr without a terminal').to.match(/^3\/3 final \(sent 3\); done/m);
    });

    it('refuses --watch without --status and a bad --report-wait with exit code 2', async () => {
      for (const [args, message] of [
        [['--resume', 'x', '--watch'], /--watch goes with --status/],
        [['--status', waiting, '--report-wait', '0'], /--report-wait: expected whole seconds from 1/],
        [['--status', waiting, '--report-wait', 'soon'], /--report-wait: expected whole seconds/],
      ] as const) {
        const result = await runPublish(env(), [...args]);
        expect(result.code).to.equal(2);
        expect(result.stderr.trim().split('\n')).to.have.length(1);
        expect(result.stderr).to.match(message);
      }
    });
  });

  describe('--resend-unknown', () => {
    let id: string;
    let lost: string[];
    let deliveryId: DeliveryIds;
    const sentTo = (contactKey: string) => sandbox.messages().filter((m) => m.callbackData === deliveryId(id, contactKey)).length;

    before(async () => {
      deliveryId = await new DeliveryRepository(db).ids();
      sandbox.setWebhookUrl(webhookUrl);
      id = await publish();
      await waitDone(id);
      await waitFor('every status webhook to be applied', async () => sandbox.pendingStatuses === 0 && (await runPublish(env(), ['--status', id, '--json'])).stdout.includes('"settled":true'), 120_000, 250);
      await statusesApplied();
      // Two deliveries as the broadcast sweep leaves them when their worker died between the
      // claim and the request and no status ever came: `unknown`, never resent by the worker.
      lost = phones.slice(0, 2);
      for (const key of lost) {
        await db.collection<{ _id: string }>(DELIVERIES).updateOne({ _id: deliveryId(id, key) }, { $set: { state: 'unknown', rank: 0, reason: 'no answer and no status webhook: not resent' }, $unset: { wamid: '', pricing: '' } });
      }
    });

    it('--status counts them and names the command that can resend them', async () => {
      const result = await runPublish(env(), ['--status', id]);
      expect(result.stdout).to.match(/unknown:\s+2/);
      expect(result.stdout).to.match(new RegExp(`unknown, can be resent:\\s+2 \\(npm run publish -- --resend-unknown ${id}\\)`));
    });

    it('without a terminal and without --yes: explains the risk, refuses with exit code 3 and changes nothing', async () => {
      const before = await snapshot(id);
      const result = await runPublish(env(), ['--resend-unknown', id]);
      expect(result.code, result.stderr).to.equal(3);
      expect(result.stderr.trim()).to.match(/^error: 2 deliveries of broadcast \S+ ended unknown; resending sends each once more, and if a first request did reach WhatsApp and only its status webhooks were lost, that contact gets the message twice: run again with --yes to resend$/);
      const json = await runPublish(env(), ['--resend-unknown', id, '--json']);
      expect(json.code).to.equal(3);
      expect((JSON.parse(json.stdout) as { error: { exitCode: number } }).error.exitCode).to.equal(3);
      expect(await snapshot(id)).to.deep.equal(before);
    });

    it('two operators at once with --yes: each unknown delivery is sent once more by the worker, and a third run finds none', async () => {
      const runs = await Promise.all([runPublish(env(), ['--resend-unknown', id, '--yes', '--json']), runPublish(env(), ['--resend-unknown', id, '--yes', '--json'])]);
      for (const run of runs) expect(run.code, run.stderr).to.equal(0);
      const answers = runs.map((run) => JSON.parse(run.stdout) as { resent: number; unknown: number });
      expect(answers.reduce((sum, a) => sum + a.resent, 0), JSON.stringify(answers)).to.equal(2);

      await waitFor('the worker to resend both and the broadcast to be done again', async () => {
        const report = JSON.parse((await runPublish(env(), ['--status', id, '--json'])).stdout) as Report;
        return report.status === 'done' && report.progress.resentUnknown === 2 && (report.deliveries.unknown ?? 0) === 0 && lost.every((key) => sentTo(key) === 2);
      }, 120_000, 500);
      for (const key of lost) expect(await db.collection(DELIVERY_ATTEMPTS).countDocuments({ _id: `${deliveryId(id, key)}#2` as never })).to.equal(1);
      expect(sentTo(phones[2] as string), 'a delivery that was not unknown is not resent').to.equal(1);

      const third = await runPublish(env(), ['--resend-unknown', id, '--yes']);
      expect(third.code, third.stderr).to.equal(0);
      expect(third.stdout.trim()).to.equal(`broadcast ${id} has no unknown deliveries to resend (2 resent before)`);
      expect(lost.map(sentTo)).to.deep.equal([2, 2]);
    });

    it('the text answer says that a running worker sends them', async () => {
      const other = await publish();
      await waitDone(other);
      // Every status of it sent, stored and applied: a late one would move the delivery out of `unknown` again.
      await statusesApplied();
      const key = phones[2] as string;
      await db.collection<{ _id: string }>(DELIVERIES).updateOne({ _id: deliveryId(other, key) }, { $set: { state: 'unknown', rank: 0 }, $unset: { wamid: '', pricing: '' } });
      const result = await runPublish(env(), ['--resend-unknown', other, '--yes']);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.match(/^1 of 1 unknown deliveries of broadcast \S+ queued to be resent once \(\+49151\*+02\)\.$/m);
      expect(result.stdout).to.include('A running worker (npm start) sends them');
      await waitFor('the resend', async () => (await broadcastStatus(other)) === 'done' && sandbox.messages().filter((m) => m.callbackData === deliveryId(other, key)).length === 2, 120_000, 250);
    });
  });
});
