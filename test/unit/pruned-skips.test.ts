import { expect } from 'chai';
import { progressFigures } from '../../src/app/publish-format.js';
import type { BroadcastReport } from '../../src/app/publish.js';
import { decideDelivery, type DeliveryPolicyInput } from '../../src/domain/delivery-policy.js';

const NOW = new Date('2026-02-15T12:00:00Z');

function input(fields: Partial<DeliveryPolicyInput> = {}): DeliveryPolicyInput {
  return {
    now: NOW, subscription: 'subscribed', contactStatus: 'active', suppressed: false, addressable: true,
    lastInboundAt: undefined, safetyMarginMs: 60_000, template: { category: 'UTILITY' }, marketingOptOut: false, ...fields,
  };
}

describe('pruned subscribers in the delivery decision and the broadcast figures', () => {
  it('a subscription ended by pruning is skipped as pruned, one ended by the contact as unsubscribed', () => {
    expect(decideDelivery(input({ subscription: 'unsubscribed', pruned: true }))).to.deep.equal({ kind: 'skip', reason: 'pruned' });
    expect(decideDelivery(input({ subscription: 'unsubscribed' }))).to.deep.equal({ kind: 'skip', reason: 'unsubscribed' });
    expect(decideDelivery(input({ subscription: 'unsubscribed', pruned: true, contactStatus: 'lapsed' }))).to.deep.equal({ kind: 'skip', reason: 'pruned' });
  });

  it('a lapsed contact who subscribed again gets the broadcast', () => {
    expect(decideDelivery(input({ contactStatus: 'lapsed' }))).to.deep.include({ kind: 'template' });
  });

  it('the progress total leaves out the contacts pruned before the plan: they get no delivery record', () => {
    const report = {
      deliveries: { delivered: 3, skipped: 1 },
      estimate: { session: 1, template: 2, skipped: { suppressed: 1, pruned: 5 }, estimatedCost: 0, currency: 'EUR' },
      progress: { overdueReport: 0 },
    } as unknown as BroadcastReport;
    expect(progressFigures(report)).to.deep.equal({ final: 4, total: 4 });
  });
});
