import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { SuppressionRepository, SUPPRESSIONS } from '../../src/store/suppression-repository.js';
import { spawnCommand } from '../support/command-process.js';
import { phoneFor, seedSubscribers } from '../support/seed.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

interface StoredContact {
  _id: string;
  status: string;
  subscriptions: Record<string, { state: string; source: string; consent?: Record<string, unknown> }>;
}

/** A contact as one import run leaves it, without the times of that run. */
const imported = (c: StoredContact) => [c._id, c.status, c.subscriptions.fallzahlen?.state, c.subscriptions.fallzahlen?.source, c.subscriptions.fallzahlen?.consent];

/** `npm run export`, `import` and `forget` as processes: exit codes, --json, and what a kill leaves. */
describe('npm run export, import and forget as processes', function () {
  this.timeout(5 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'data-cli-'));
  // The killed import gets a database of its own: counting its rows in one that holds the export
  // tests' 60,000 contacts scans them all at every poll, and that starved the import (2 min).
  const [dbName, onceDb, killedDb] = [testDatabaseName('data-cli'), testDatabaseName('data-cli-once'), testDatabaseName('data-cli-killed')];
  let client: MongoClient;
  const env = (db = dbName, extra: Record<string, string> = {}) => ({ MONGODB_URI: testServer().uri, MONGODB_DB: db, LOG_LEVEL: 'warn', ...extra });
  const run = (script: string, args: string[], db = dbName, extra: Record<string, string> = {}) => spawnCommand(script, env(db, extra), args);

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
  });
  after(async () => {
    for (const db of [dbName, onceDb, killedDb]) await client.db(db).dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('export: CSV on stdout and nothing on stderr without a terminal; bad flags 2, --pseudonymize without its key 78', async () => {
    await seedSubscribers(client.db(dbName), { count: 3, from: 1 });
    const ok = await run('export.ts', ['--what', 'contacts', '--status', 'subscribed']).exited;
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.equal('');
    expect(ok.stdout.split('\r\n').filter(Boolean).map((l) => l.split(',')[0])).to.deep.equal(['contact', phoneFor(1), phoneFor(2), phoneFor(3)]);
    const bad = await run('export.ts', ['--what', 'people']).exited;
    expect([bad.code, bad.stderr.trim()]).to.deep.equal([2, 'error: --what: expected one of contacts, deliveries, broadcasts, got "people" (see npm run export -- --help)']);
    const noKey = await run('export.ts', ['--pseudonymize']).exited;
    expect(noKey.code).to.equal(78);
    expect(noKey.stderr).to.include('EXPORT_PSEUDONYM_KEY');
  });

  it('export --out killed mid-way (SIGKILL) leaves no file under that name', async () => {
    await seedSubscribers(client.db(dbName), { count: 60_000, from: 1000 });
    const out = join(dir, 'contacts.csv');
    const child = run('export.ts', ['--out', out]);
    const partial = await waitFor('the export to be writing its temporary file', () => {
      const part = readdirSync(dir).find((f) => f.startsWith('.contacts.csv.') && f.endsWith('.part'));
      return part !== undefined && statSync(join(dir, part)).size > 0 ? part : undefined;
    }, 120_000, 20);
    child.child.kill('SIGKILL');
    expect((await child.exited).code).to.equal('SIGKILL');
    expect(existsSync(out)).to.equal(false);
    rmSync(join(dir, partial), { force: true });
    const whole = await run('export.ts', ['--out', out, '--format', 'ndjson']).exited;
    expect(whole.code, whole.stderr).to.equal(0);
    expect(readdirSync(dir).filter((f) => f.includes('contacts.csv'))).to.deep.equal(['contacts.csv']);
  });

  it('import --json: the summary with rejected rows by reason; a header with an unknown column is exit 2', async () => {
    const file = join(dir, 'small.csv');
    writeFileSync(file, 'phone,consent_at,consent_text\n+4915190000001,2026-01-01,Ja\nnope,2026-01-01,Ja\n');
    const result = await run('import.ts', [file, '--topic', 'fallzahlen', '--consent-source', 'web-form', '--json']).exited;
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.include({ imported: 1, rejected: 1, rejectedByReason: { 'invalid-phone': 1 }, rowsReported: [{ line: 3, outcome: 'rejected', reason: 'invalid-phone', message: 'not a valid phone number: *** (only digits, spaces, - ( ) . / and a leading + are allowed)' }] });
    writeFileSync(file, 'phone,consent_at,consent_text,email\n');
    const refused = await run('import.ts', [file, '--topic', 'fallzahlen', '--consent-source', 'web-form', '--json']).exited;
    expect(refused.code).to.equal(2);
    expect(JSON.parse(refused.stdout)).to.deep.equal({ error: { message: 'line 1: unknown column "email" in the header (known: phone, bsuid, consent_at, consent_text, consent_ref, language, name)', exitCode: 2 } });
  });

  it('an import killed half way and run again ends as one run does', async () => {
    const rows = 20_000;
    const lines = ['phone,consent_at,consent_text,consent_ref'];
    for (let i = 0; i < rows; i += 1) lines.push(`${phoneFor(i, '49160')},2026-01-${String(1 + (i % 28)).padStart(2, '0')}T08:00:00Z,Ja bitte,ref-${i}`);
    lines.push('+4916099999999,2026-01-05,Ja,opted-out-after-this');
    const file = join(dir, 'big.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    for (const db of [killedDb, onceDb]) {
      await new SuppressionRepository(client.db(db), 'sandbox-suppression-key').suppress('+4916099999999', 'opt-out', new Date('2026-01-10T00:00:00Z'));
      await client.db(db).collection(CONTACTS).insertOne({ _id: phoneFor(7, '49160'), phone: phoneFor(7, '49160'), status: 'active', sentSinceReply: 0, unansweredTemplates: 0, createdAt: new Date(), subscriptions: { fallzahlen: { state: 'pending', changedAt: new Date(), source: 'keyword' } } } as never);
    }
    const args = [file, '--topic', 'fallzahlen', '--consent-source', 'web-form', '--json'];
    const once = await run('import.ts', args, onceDb).exited;
    expect(once.code, once.stderr).to.equal(0);
    expect(JSON.parse(once.stdout)).to.deep.include({ rows: rows + 1, imported: rows - 1, updated: 1, rejectedByReason: { suppressed: 1 } });

    const killed = run('import.ts', args, killedDb);
    const inserted = () => client.db(killedDb).collection(CONTACTS).countDocuments({ _id: { $regex: '^\\+49160' }, 'subscriptions.fallzahlen.source': 'import' } as never);
    await waitFor('the import to have written some rows', async () => (await inserted()) >= 1000, 120_000, 20);
    killed.child.kill('SIGKILL');
    await killed.exited;
    const half = await inserted();
    expect(half, 'killed before the end').to.be.below(rows);
    const again = await run('import.ts', args, killedDb).exited;
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.include({ unchanged: half, rejectedByReason: { suppressed: 1 } });
    const state = async (db: string) => (await client.db(db).collection<StoredContact>(CONTACTS).find({ _id: { $regex: '^\\+49160' } }).sort({ _id: 1 }).toArray()).map(imported);
    expect(await state(killedDb)).to.deep.equal(await state(onceDb));
    expect(await client.db(killedDb).collection(SUPPRESSIONS).countDocuments()).to.equal(await client.db(onceDb).collection(SUPPRESSIONS).countDocuments());
  });

  it('forget: refuses without a terminal unless --yes (3), an unknown contact is exit 2, --yes --json says what went', async () => {
    const phone = phoneFor(1);
    const refused = await run('forget.ts', [phone]).exited;
    expect(refused.code).to.equal(3);
    expect(refused.stderr).to.match(/^error: forgetting \+49151\*+01 removes .*\bcontacts 1\b.*: run again with --yes/);
    const done = await run('forget.ts', [phone, '--yes', '--json']).exited;
    expect(done.code, done.stderr).to.equal(0);
    expect(JSON.parse(done.stdout)).to.deep.include({ contact: '+49151******01', removed: { contact_identities: 1, contacts: 1 }, waitingWebhookBatches: 0 });
    expect(done.stdout).not.to.include(phone.slice(3));
    const unknown = await run('forget.ts', [phone, '--yes', '--json']).exited;
    expect(unknown.code).to.equal(2);
    expect(JSON.parse(unknown.stdout).error.message).to.match(/^no contact \+49151\*+01: nothing stored names them \(a suppression record stands: erased on /);
  });
});
