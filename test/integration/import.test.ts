import { Readable } from 'node:stream';
import { expect } from 'chai';
import type { Services } from '../../src/app/deps.js';
import { importContacts, type ImportRequest, type RowReport } from '../../src/app/import.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { SUPPRESSIONS } from '../../src/store/suppression-repository.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const REQUEST: ImportRequest = { topic: 'fallzahlen', consentSource: 'web-form', dryRun: false };

const FILE = [
  'name,consent_text,Phone,consent_at,language,consent_ref',
  'Anna,Ja zu den Fallzahlen,+49 151 0000 0001,2026-02-01T10:00:00+01:00,de,form-1', // line 2: imported
  'Ben,"Yes, send me ""the numbers""",0049151-00000002,2026-02-02,en,', // line 3: imported, quoted field
  ',Ja,+49 151 0000 0003,2026-02-03T00:00:00Z,,', // line 4: updated (was pending)
  ',Ja,12345,2026-02-01,,', // line 5: bad number
  ',Ja,+4915100000005,,,', // line 6: no consent time
  ',Ja,+4915100000006,2026-04-01,,', // line 7: consent in the future
  ',Ja,+4915100000007,2026-02-01,,,surplus', // line 8: more fields than columns
  '',
  ',Ja,+4915100000008,2026-02-01,,', // line 10: opted out after this consent
  ',Ja,+4915100000009,2026-02-20T00:00:00Z,,', // line 11: opted out before this consent: subscribed again
  ',Ja,+4915100000010,2026-02-01,,', // line 12: already subscribed over WhatsApp: unchanged
  ',"Ja,',
  'über zwei Zeilen",+4915100000011,2026-02-01,,', // lines 13-14: imported, the wording over two lines
].join('\n');

describe('npm run import against the database: checks per row, consent evidence, suppression, idempotence', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  let services: Services;
  const contacts = () => database.db.collection(CONTACTS).find({}, { sort: { _id: 1 } }).toArray();
  const run = async (text: string, request: Partial<ImportRequest> = {}) => {
    const reports: RowReport[] = [];
    const summary = await importContacts(services, Readable.from([text]), { ...REQUEST, ...request }, { onRow: (r) => reports.push(r) });
    return { summary, reports };
  };

  before(async () => {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    const config = testConfig();
    services = buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), database.db, loadContentConfig(config));
    const consent = { source: 'button', wording: 'Möchtest du?', language: 'de', messageId: 'wamid.X', at: new Date('2026-01-05T00:00:00Z') };
    await database.db.collection(CONTACTS).insertMany([
      { _id: '+4915100000003', phone: '+4915100000003', waId: '4915100000003', status: 'active', lastInboundAt: new Date('2026-01-10T00:00:00Z'), sentSinceReply: 0, unansweredTemplates: 0, createdAt: new Date('2026-01-10T00:00:00Z'),
        subscriptions: { fallzahlen: { state: 'pending', changedAt: new Date('2026-01-10T00:00:00Z'), source: 'keyword', pendingSince: new Date('2026-01-10T00:00:00Z') } } },
      { _id: '+4915100000010', phone: '+4915100000010', waId: '4915100000010', status: 'active', sentSinceReply: 0, unansweredTemplates: 0, createdAt: new Date('2026-01-05T00:00:00Z'),
        subscriptions: { fallzahlen: { state: 'subscribed', changedAt: consent.at, source: 'button', messageId: 'wamid.X', consent } } },
    ] as never[]);
    await services.suppressions.suppress('+4915100000008', 'opt-out', new Date('2026-02-10T00:00:00Z'));
    await services.suppressions.suppress('+4915100000009', 'opt-out', new Date('2026-02-10T00:00:00Z'));
  });

  it('a dry run reports every row and stores nothing', async () => {
    const before = await contacts();
    const { summary } = await run(FILE, { dryRun: true });
    expect(summary).to.deep.include({ dryRun: true, rows: 11, imported: 4, updated: 1, unchanged: 1, rejected: 5 });
    expect(await contacts()).to.deep.equal(before);
    expect(await services.suppressions.isSuppressed('+4915100000009')).to.equal(true);
  });

  it('imports the good rows with their consent evidence and no window, and reports each broken row by line and reason', async () => {
    const { summary, reports } = await run(FILE);
    expect(summary).to.deep.include({ rows: 11, imported: 4, updated: 1, unchanged: 1, rejected: 5 });
    expect(summary.rejectedByReason).to.deep.equal({ 'invalid-phone': 1, 'missing-consent-time': 1, 'consent-in-future': 1, 'unknown-column': 1, suppressed: 1 });
    expect(reports.map((r) => [r.line, r.outcome, r.reason ?? ''])).to.deep.equal([
      [5, 'rejected', 'invalid-phone'], [6, 'rejected', 'missing-consent-time'], [7, 'rejected', 'consent-in-future'], [8, 'rejected', 'unknown-column'],
      [10, 'rejected', 'suppressed'], [11, 'imported', ''],
    ]);
    expect(reports.find((r) => r.line === 10)?.message).to.match(/^opted out on 2026-02-10T00:00:00.000Z, after this consent/);
    expect(reports.find((r) => r.line === 11)?.message).to.match(/^subscribed again/);
    expect(reports.map((r) => r.message).join(' ')).not.to.match(/\d{8}/);

    const anna = await services.contacts.get('+4915100000001');
    expect(anna).to.deep.include({ key: '+4915100000001', phone: '+4915100000001', waId: '4915100000001', profileName: 'Anna', language: 'de', status: 'active', sentSinceReply: 0 });
    expect(anna?.lastInboundAt).to.equal(undefined);
    expect(anna?.subscriptions.fallzahlen).to.deep.equal({
      state: 'subscribed', changedAt: NOW, source: 'import',
      consent: { source: 'import', collectedBy: 'web-form', wording: 'Ja zu den Fallzahlen', at: new Date('2026-02-01T09:00:00Z'), language: 'de', ref: 'form-1' },
    });
    expect((await services.contacts.get('+4915100000002'))?.subscriptions.fallzahlen?.consent?.wording).to.equal('Yes, send me "the numbers"');
    expect((await services.contacts.get('+4915100000011'))?.subscriptions.fallzahlen?.consent?.wording).to.equal('Ja,\nüber zwei Zeilen');
    const pending = await services.contacts.get('+4915100000003');
    expect(pending?.subscriptions.fallzahlen).to.deep.include({ state: 'subscribed', source: 'import' });
    expect(pending?.lastInboundAt).to.deep.equal(new Date('2026-01-10T00:00:00Z'));
    expect((await services.contacts.get('+4915100000010'))?.subscriptions.fallzahlen?.source).to.equal('button');
    expect(await services.contacts.get('+4915100000008')).to.equal(undefined);
    expect(await services.suppressions.isSuppressed('+4915100000008')).to.equal(true);
    expect(await services.suppressions.isSuppressed('+4915100000009')).to.equal(false);
  });

  it('the same file again changes nothing', async () => {
    const before = { contacts: await contacts(), suppressions: await database.db.collection(SUPPRESSIONS).find().toArray() };
    const { summary } = await run(FILE);
    expect(summary).to.deep.include({ imported: 0, updated: 0, unchanged: 6, rejected: 5 });
    expect(await contacts()).to.deep.equal(before.contacts);
    expect(await database.db.collection(SUPPRESSIONS).find().toArray()).to.deep.equal(before.suppressions);
  });

  it('a BSUID alone finds the contact known by it; a header with an unknown column is refused before any row', async () => {
    await database.db.collection(CONTACTS).insertOne({ _id: '+4915100000020', phone: '+4915100000020', userId: '49.KnownUser1', status: 'active', subscriptions: {}, sentSinceReply: 0, unansweredTemplates: 0, createdAt: NOW } as never);
    const { summary } = await run('bsuid,consent_at,consent_text\n49.KnownUser1,2026-02-01,Ja\n49.NewUser2,2026-02-01,Ja\n');
    expect(summary).to.deep.include({ imported: 1, updated: 1 });
    expect((await services.contacts.get('+4915100000020'))?.subscriptions.fallzahlen?.state).to.equal('subscribed');
    expect((await services.contacts.get('user:49.NewUser2'))?.userId).to.equal('49.NewUser2');
    let error: Error | undefined;
    await run('phone,consent_at,consent_text,email\n+4915100000030,2026-02-01,Ja,a@b.c\n').catch((err: Error) => (error = err));
    expect(error?.message).to.equal('line 1: unknown column "email" in the header (known: phone, bsuid, consent_at, consent_text, consent_ref, language, name)');
    expect(await services.contacts.get('+4915100000030')).to.equal(undefined);
  });

  it('a file that stops being CSV keeps the rows before it and says where', async () => {
    const { summary } = await run('phone,consent_at,consent_text\n+4915100000040,2026-02-01,Ja\n+4915100000041,2026-02-01,"Ja"x\n+4915100000042,2026-02-01,Ja\n');
    expect(summary.imported).to.equal(1);
    expect(summary.error?.line).to.equal(3);
    expect(await services.contacts.get('+4915100000040')).not.to.equal(undefined);
  });
});
