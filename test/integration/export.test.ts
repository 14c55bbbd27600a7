import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import type { Services } from '../../src/app/deps.js';
import { checkExportRequest, writeExport, writeFileAtomically, type ExportRequest } from '../../src/app/export.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import { ConfigError } from '../../src/domain/errors.js';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { seedSubscribers } from '../support/seed.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const HOUR = 3600_000;
const ago = (hours: number) => new Date(NOW.getTime() - hours * HOUR);
const KEY = 'export-pseudonym-key-for-tests';

const A = '+4915100000001'; // subscribed over WhatsApp, window open, a name that is a formula
const B = '+4915100000002'; // lapsed: pruned for no reply
const C_BSUID = '49.AbCdEfGh12'; // known only by its BSUID, pending
const D = '+12015550100'; // imported

describe('npm run export against the database: each kind and format, filters, pseudonyms, no half file', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'export-test-'));
  let services: Services;
  let broadcastId: string;

  const services$ = (overrides: Record<string, string> = {}): Services => {
    const config = testConfig({ EXPORT_PSEUDONYM_KEY: KEY, ...overrides });
    return buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), database.db, loadContentConfig(config));
  };
  const run = async (request: Partial<ExportRequest>, on = services): Promise<string> => {
    const full: ExportRequest = { what: 'contacts', format: 'csv', pseudonymize: false, ...request };
    const file = join(dir, `out-${Math.random().toString(36).slice(2)}`);
    await writeFileAtomically(file, (out) => writeExport(on, full, checkExportRequest(on, full), out));
    return readFileSync(file, 'utf8');
  };
  const csv = (text: string): Record<string, string>[] => parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
  const ndjson = (text: string): Record<string, unknown>[] => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    services = services$();
    const contacts = database.db.collection(CONTACTS);
    const consent = { source: 'button', wording: 'Möchtest du die Fallzahlen bekommen?', language: 'de', messageId: 'wamid.A1', at: ago(48) };
    await contacts.insertMany([
      { _id: A, phone: A, waId: A.slice(1), profileName: '=HYPERLINK("http://evil","x")', status: 'active', lastInboundAt: ago(2), sentSinceReply: 0, unansweredTemplates: 0, createdAt: ago(50),
        subscriptions: { fallzahlen: { state: 'subscribed', changedAt: ago(48), source: 'button', messageId: 'wamid.A1', consent } } },
      { _id: B, phone: B, waId: B.slice(1), status: 'lapsed', lapsedAt: ago(5), lastInboundAt: ago(900), sentSinceReply: 2, unansweredTemplates: 2, createdAt: ago(1000),
        subscriptions: { fallzahlen: { state: 'unsubscribed', changedAt: ago(5), source: 'prune', reason: 'no-reply', consent } } },
      { _id: `user:${C_BSUID}`, userId: C_BSUID, status: 'active', sentSinceReply: 0, unansweredTemplates: 0, createdAt: ago(1),
        subscriptions: { fallzahlen: { state: 'pending', changedAt: ago(1), source: 'keyword', pendingSince: ago(1) } } },
    ] as never[]);
    await seedSubscribers(database.db, { count: 1, from: 15550100, prefix: '120', now: ago(3) }); // D: +12015550100
    const { broadcast } = await services.broadcasts.create({ key: 'k1', topic: 'fallzahlen', content: { sessionText: 'Heute 5 Fälle', template: { name: 'daily_update', language: 'de', category: 'MARKETING', bodyParams: [], quickReplyPayloads: [] } }, createdAt: ago(1), estimate: { session: 1, template: 2, skipped: { 'pending-consent': 1 }, estimatedCost: 0.2, currency: 'EUR' } }, ago(1));
    broadcastId = broadcast.id;
    await services.deliveries.claim(broadcastId, A, 'session', 0, ago(1), undefined);
    await services.deliveries.claim(broadcastId, B, 'template', 0.1131, ago(1), undefined);
    await services.deliveries.claim(broadcastId, D, 'template', 0.0625, ago(1), undefined);
    const [idA, idB, idD] = await Promise.all([A, B, D].map((k) => services.deliveries.idOf(broadcastId, k)));
    await services.deliveries.markSent(idA as string, 'wamid.a', ago(1));
    await services.deliveries.markSent(idB as string, 'wamid.b', ago(1));
    await services.deliveries.applyStatuses([
      { id: idA, wamid: 'wamid.a', status: 'read' },
      { id: idB, wamid: 'wamid.b', status: 'delivered', pricing: { billable: true, category: 'marketing' } },
    ], ago(1));
    await services.deliveries.markFailed(idD as string, '131026', 'message undeliverable', ago(1));
    await services.deliveries.skip(broadcastId, `user:${C_BSUID}`, 'pending-consent', ago(1));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('contacts as CSV: RFC 4180 with a header and CRLF, every field, formulas neutralised, numbers kept', async () => {
    const text = await run({});
    expect(text.split('\r\n')[0]).to.match(/^contact,bsuid,name,language,status,status_reason,/);
    expect(text.endsWith('\r\n')).to.equal(true);
    const rows = csv(text);
    expect(rows.map((r) => r.contact)).to.deep.equal([D, A, B, `user:${C_BSUID}`]);
    const a = rows[1] as Record<string, string>;
    expect(a).to.deep.include({
      name: '\'=HYPERLINK("http://evil","x")', status: 'active', last_reply_at: ago(2).toISOString(), window_open_until: ago(2 - 24).toISOString(),
      messages: '1', 'fallzahlen.state': 'subscribed', 'fallzahlen.consent_source': 'button', 'fallzahlen.consent_at': ago(48).toISOString(),
      'fallzahlen.consent_wording': 'Möchtest du die Fallzahlen bekommen?', 'fallzahlen.consent_language': 'de', 'fallzahlen.consent_message_id': 'wamid.A1',
    });
    expect(rows[2]).to.deep.include({ status: 'lapsed', status_reason: 'no-reply', 'fallzahlen.state': 'unsubscribed', 'fallzahlen.source': 'prune', messages: '1', estimated_cost: '0.1131', sent_since_reply: '2' });
    expect(rows[3]).to.deep.include({ bsuid: C_BSUID, 'fallzahlen.state': 'pending', messages: '0' });
    expect(rows[0]).to.deep.include({ messages: '0', estimated_cost: '0' }); // its only delivery failed
  });

  it('contacts as NDJSON and as one JSON array hold the same records as the CSV', async () => {
    const lines = ndjson(await run({ format: 'ndjson' }));
    const array = JSON.parse(await run({ format: 'json' })) as Record<string, unknown>[];
    expect(array).to.deep.equal(lines);
    const rows = csv(await run({}));
    expect(lines.map((l) => [l.contact, (l.topics as Record<string, { state: string }>).fallzahlen?.state, l.status, String(l.messages)]))
      .to.deep.equal(rows.map((r) => [r.contact, r['fallzahlen.state'], r.status, r.messages]));
    expect(lines[1]).to.deep.include({ name: '=HYPERLINK("http://evil","x")', last_reply_at: ago(2).toISOString() });
    expect(JSON.parse(await run({ format: 'json', status: 'removed' }))).to.deep.equal([]);
  });

  it('filters contacts by status, subscription state, topic and time', async () => {
    const keys = async (request: Partial<ExportRequest>) => csv(await run(request)).map((r) => r.contact);
    expect(await keys({ status: 'lapsed' })).to.deep.equal([B]);
    expect(await keys({ status: 'subscribed' })).to.deep.equal([D, A]);
    expect(await keys({ topic: 'fallzahlen', status: 'pending' })).to.deep.equal([`user:${C_BSUID}`]);
    expect(await keys({ since: ago(4) })).to.deep.equal([D, `user:${C_BSUID}`]);
    expect(await keys({ topic: 'fallzahlen', since: ago(6) })).to.deep.equal([D, B, `user:${C_BSUID}`]);
  });

  it('deliveries and broadcasts in each format, with states, reasons, Meta codes and prices', async () => {
    const rows = csv(await run({ what: 'deliveries' }));
    const byContact = new Map(rows.map((r) => [r.contact, r]));
    expect(byContact.get(A)).to.deep.include({ broadcast: broadcastId, topic: 'fallzahlen', kind: 'session', state: 'read', estimated_cost: '0', reported_price: '0' });
    expect(byContact.get(B)).to.deep.include({ kind: 'template', state: 'delivered', estimated_cost: '0.1131', reported_price: '0.1131', billable: 'true', pricing_category: 'marketing' });
    expect(byContact.get(D)).to.deep.include({ state: 'failed', meta_code: '131026', reason: 'message undeliverable' });
    expect(byContact.get(`user:${C_BSUID}`)).to.deep.include({ state: 'skipped', reason: 'pending-consent' });
    expect(ndjson(await run({ what: 'deliveries', format: 'ndjson', status: 'skipped' })).map((d) => d.contact)).to.deep.equal([`user:${C_BSUID}`]);
    expect(JSON.parse(await run({ what: 'deliveries', format: 'json', broadcast: 'no-such' }))).to.deep.equal([]);

    const [broadcast] = csv(await run({ what: 'broadcasts' }));
    expect(broadcast).to.deep.include({ broadcast: broadcastId, key: 'k1', 'deliveries.read': '1', 'deliveries.delivered': '1', 'deliveries.failed': '1', 'deliveries.skipped': '1', 'kinds.template': '2', reported_cost: '0.1131', billable_messages: '1', planned_cost: '0.2' });
    expect(broadcast?.reasons?.split('; ').sort()).to.deep.equal(['message undeliverable=1', 'pending-consent=1']);
    const [json] = JSON.parse(await run({ what: 'broadcasts', format: 'json', status: 'planning' })) as Record<string, unknown>[];
    expect(json).to.deep.include({ broadcast: broadcastId, estimated_cost: 0.1131, reasons: { 'message undeliverable': 1, 'pending-consent': 1 } });
  });

  it('--pseudonymize: no number, wa_id, BSUID or name in any kind; one contact, one pseudonym across exports and kinds', async () => {
    const texts = await Promise.all([
      run({ pseudonymize: true }), run({ pseudonymize: true, format: 'ndjson' }), run({ what: 'deliveries', pseudonymize: true }), run({ what: 'broadcasts', pseudonymize: true }),
    ]);
    for (const text of texts) {
      for (const secret of [A, B, D, A.slice(1), B.slice(1), D.slice(1), C_BSUID, 'HYPERLINK', 'wamid.A1']) expect(text, secret).not.to.include(secret);
    }
    const contacts = csv(texts[0] as string);
    const again = csv(await run({ pseudonymize: true }));
    expect(again.map((r) => r.contact)).to.deep.equal(contacts.map((r) => r.contact));
    const deliveries = csv(texts[2] as string).map((r) => r.contact);
    expect(new Set(deliveries)).to.deep.equal(new Set(contacts.map((r) => r.contact)));
    const c = contacts.find((r) => r['fallzahlen.state'] === 'pending');
    expect(c?.bsuid).to.equal(c?.contact); // known only by the BSUID: the same pseudonym joins both
    const otherKey = csv(await run({ pseudonymize: true }, services$({ EXPORT_PSEUDONYM_KEY: 'another-key-of-16-chars' })));
    expect(otherKey.map((r) => r.contact)).not.to.include.members(contacts.map((r) => r.contact));
    expect(() => checkExportRequest(services$({ EXPORT_PSEUDONYM_KEY: '' }), { what: 'contacts', format: 'csv', pseudonymize: true })).to.throw(ConfigError, /EXPORT_PSEUDONYM_KEY/);
  });

  it('an export stopped half way leaves no file under its name, and no temporary file', async () => {
    await seedSubscribers(database.db, { count: 3000, from: 5000000 });
    const stop = new AbortController();
    const file = join(dir, 'stopped.csv');
    const request: ExportRequest = { what: 'contacts', format: 'csv', pseudonymize: false };
    let error: unknown;
    try {
      await writeFileAtomically(file, (out) => writeExport(services, request, checkExportRequest(services, request), out, { signal: stop.signal, onProgress: (rows) => rows >= 1000 && stop.abort() }));
    } catch (err) {
      error = err;
    }
    expect((error as Error | undefined)?.name).to.equal('AbortError');
    expect(existsSync(file)).to.equal(false);
    expect(readdirSync(dir).filter((f) => f.includes('stopped'))).to.deep.equal([]);
  });
});
