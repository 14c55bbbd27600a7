import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Services } from '../../src/app/deps.js';
import { broadcastReport } from '../../src/app/publish.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';

const NOW = new Date('2026-11-20T12:00:00Z');
const period = (country: string, marketing: number, utility: number) => ({
  effectiveFrom: '2025-07-01', country, rates: { MARKETING: marketing, UTILITY: utility, AUTHENTICATION: utility }, sessionInWindow: 'free', utilityTemplateInWindow: 'free',
});
// Jamaica (+1 876) priced apart from the rest of +1, as a card may do.
const CARD = { currency: 'EUR', periods: [period('49', 0.1131, 0.0456), period('1', 0.025, 0.004), period('1876', 0.07, 0.011), period('*', 0.0625, 0.02)] };

describe("a broadcast's reported cost: Meta's billable statuses priced by country and category", function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'report-test-'));
  let services: Services;

  before(async () => {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    const cardFile = join(dir, 'rate-card.json');
    writeFileSync(cardFile, JSON.stringify(CARD));
    const config = testConfig({ RATE_CARD_FILE: cardFile });
    services = buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), database.db, loadContentConfig(config));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prices each billable delivery by its calling code (a BSUID-only contact at the card\'s * rate) and the category Meta charged', async () => {
    const { broadcast } = await services.broadcasts.create({
      key: 'report-1', topic: 'fallzahlen', createdAt: NOW,
      content: { sessionText: 'Heute 5 Fälle', template: { name: 'daily_update', language: 'de', category: 'MARKETING', bodyParams: [], quickReplyPayloads: [] } },
      estimate: { session: 0, template: 9, skipped: {}, estimatedCost: 0, currency: 'EUR' },
    }, NOW);
    const billed: [string, string | undefined][] = [
      ['+4915100000001', 'marketing'], // 0.1131
      ['+4915100000002', 'marketing'], // 0.1131
      ['+4915100000003', 'utility'], // 0.0456
      ['+12015550100', 'marketing'], // 0.025
      ['+18765550100', 'marketing'], // 0.07: the longer calling code
      ['+18765550101', 'utility'], // 0.011
      ['user:DE.1423079981', 'marketing'], // 0.0625: a contact known only by a BSUID has no number: the '*' rate, as in the estimate (not +1 from its digits)
      ['user:DE.7700112233', 'utility'], // 0.02
      ['+4915100000004', undefined], // 0.0456: no category reported counts as utility
    ];
    const notBilled = ['+4915100000005', '+12015550102'];
    for (const [key] of billed) await services.deliveries.claim(broadcast.id, key, 'template', 0.1, NOW, undefined);
    for (const key of notBilled) await services.deliveries.claim(broadcast.id, key, 'template', 0.1, NOW, undefined);
    const statuses = [];
    for (const [i, [key, category]] of billed.entries()) {
      const id = (await services.deliveries.idOf(broadcast.id, key)) as string;
      await services.deliveries.markSent(id, `wamid.b${i}`, NOW);
      statuses.push({ id, wamid: `wamid.b${i}`, status: 'delivered' as const, pricing: { billable: true, ...(category ? { category } : {}) } });
    }
    for (const [i, key] of notBilled.entries()) {
      const id = (await services.deliveries.idOf(broadcast.id, key)) as string;
      await services.deliveries.markSent(id, `wamid.n${i}`, NOW);
      statuses.push({ id, wamid: `wamid.n${i}`, status: 'read' as const, pricing: { billable: false, category: 'service' } });
    }
    await services.deliveries.applyStatuses(statuses, NOW);

    const report = await broadcastReport(services, broadcast.id);
    expect(report.cost.billableMessages).to.equal(9);
    const expected = 0.1131 * 2 + 0.0456 * 2 + 0.025 + 0.07 + 0.011 + 0.0625 + 0.02;
    expect(report.cost.reported).to.equal(Math.round(expected * 1e4) / 1e4);
  });
});
