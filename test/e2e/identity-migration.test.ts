import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { MongoClient, type Db } from 'mongodb';
import { linkStoredContacts } from '../../src/app/app-database.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { ensureIndexes } from '../../src/store/database.js';
import { CONTACT_IDENTITIES, IdentityRepository } from '../../src/store/identity-repository.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { CONTACT_MERGES } from '../../src/store/merge-repository.js';
import { checkLinkedContacts, seedLegacyContacts } from '../support/legacy-contacts.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { testDatabaseName, testServer } from '../support/test-server.js';
import { WaitAborted, waitFor } from '../support/wait-for.js';
import { PROJECT_ROOT } from '../support/command-line.js';

const PLAN = { phoneOnly: 6_000, phoneWithUserId: 1_000, duplicates: 600, usernameOnly: 400, seed: 1414 };

/**
 * A process starting on a database from before identities (8,000 contacts, 600 of them a
 * second contact of a person under the user id) is killed with SIGKILL in the middle of linking
 * them; the next start finishes the job: every contact linked, each duplicate merged exactly
 * once, as many live contacts as people, nothing lost.
 */
describe('the migration of stored contacts, killed and started again', function () {
  this.timeout(10 * 60_000);
  const dbName = testDatabaseName('identity-migration');
  let client: MongoClient;
  let db: Db;
  let child: ReturnType<typeof spawn> | undefined;
  let exited: Promise<number | string> | undefined;

  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(dbName);
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await db.dropDatabase();
    await client.close();
  });

  it('a start killed half-way through linking is finished by the next start', async () => {
    await ensureIndexes(db, INDEX_DECLARATIONS);
    const seeded = await seedLegacyContacts(db, PLAN, new Date());
    const output: string[] = [];
    child = spawn(process.execPath, ['--import', 'tsx', 'test/support/open-app-database-run.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', LOG_LEVEL: 'info', MONGODB_URI: testServer().uri, MONGODB_DB: dbName },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    exited = new Promise<number | string>((resolve) => child?.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));

    const identities = db.collection(CONTACT_IDENTITIES);
    const flag = new IdentityRepository(db);
    // Half-way: identities linked and merges begun, the migration not finished.
    await waitFor('the child to have linked identities and begun merging', async () => {
      if (child?.exitCode !== null) throw new WaitAborted(`the child exited (${String(child?.exitCode)}) before it was killed: ${output.join('')}`);
      return (await identities.countDocuments({}, { limit: 1 })) > 0 && (await db.collection(CONTACT_MERGES).countDocuments({}, { limit: 1 })) > 0;
    }, 120_000, 20);
    child.kill('SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    expect(await flag.migrated(), 'the migration finished before the kill (more contacts needed)').to.equal(false);
    const unlinked = await db.collection(CONTACTS).countDocuments({ identified: { $exists: false }, mergedInto: { $exists: false } });
    expect(unlinked, 'contacts left to link at the kill').to.be.above(0);

    const next = await linkStoredContacts(db, testConfig().suppressionKey, captureLogger('warn').logger);
    expect(next.linked).to.be.within(1, unlinked);
    const report = await checkLinkedContacts(db, seeded);
    expect(report.violations).to.deep.equal([]);
    expect(report).to.deep.include({ liveContacts: seeded.persons, identities: seeded.identities.size, merges: PLAN.duplicates, tombstones: PLAN.duplicates });
    expect(await linkStoredContacts(db, testConfig().suppressionKey, captureLogger('warn').logger)).to.deep.equal({ linked: 0, merged: 0 });
  });
});
