import { expect } from 'chai';
import { decidePrune, PRUNE_KEEP_REASONS, PRUNE_REASONS, type PruneInput } from '../../src/domain/pruning.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-02-15T12:00:00Z');
const daysAgo = (days: number, extraMs = 0) => new Date(NOW.getTime() - days * DAY - extraMs);

/** A subscriber who last wrote 10 days ago and got two broadcasts since. */
function input(fields: Partial<PruneInput> = {}): PruneInput {
  return {
    now: NOW,
    contactStatus: 'active',
    subscription: 'subscribed',
    subscribedAt: daysAgo(90),
    lastInboundAt: daysAgo(10),
    sentSinceReply: 2,
    unansweredTemplates: 0,
    nudgedSinceReply: false,
    afterDays: 30,
    afterUnansweredTemplates: 3,
    ...fields,
  };
}

describe('pruning: decidePrune', () => {
  it('keeps a subscriber within both limits', () => {
    expect(decidePrune(input())).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
  });

  it('a last reply exactly PRUNE_AFTER_DAYS ago is kept; a millisecond older is removed, with when', () => {
    expect(decidePrune(input({ lastInboundAt: daysAgo(30) }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
    expect(decidePrune(input({ lastInboundAt: daysAgo(30, 1) }))).to.deep.equal({ kind: 'prune', reason: 'no-reply', at: NOW });
  });

  it('PRUNE_AFTER_UNANSWERED_TEMPLATES paid templates in a row unanswered removes, however recent the last reply', () => {
    expect(decidePrune(input({ lastInboundAt: daysAgo(3), sentSinceReply: 2, unansweredTemplates: 2 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
    expect(decidePrune(input({ lastInboundAt: daysAgo(3), sentSinceReply: 3, unansweredTemplates: 3 }))).to.deep.equal({ kind: 'prune', reason: 'unanswered-templates', at: NOW });
    // Both limits reached: the template rule names it.
    expect(decidePrune(input({ lastInboundAt: daysAgo(45), sentSinceReply: 4, unansweredTemplates: 4 }))).to.deep.include({ reason: 'unanswered-templates' });
  });

  it('never prunes a subscriber who was sent nothing and not nudged since their last reply: they never had a chance', () => {
    const silentTopic = { lastInboundAt: daysAgo(60), sentSinceReply: 0, unansweredTemplates: 0, nudgedSinceReply: false };
    expect(decidePrune(input(silentTopic))).to.deep.equal({ kind: 'keep', reason: 'never-contacted' });
    expect(decidePrune(input({ ...silentTopic, nudgedSinceReply: true }))).to.deep.include({ kind: 'prune', reason: 'no-reply' });
    expect(decidePrune(input({ ...silentTopic, sentSinceReply: 1 }))).to.deep.include({ kind: 'prune', reason: 'no-reply' });
  });

  it('an imported subscriber without a window counts from when they were subscribed, and only once written to', () => {
    const imported = { lastInboundAt: undefined, subscribedAt: daysAgo(40) };
    expect(decidePrune(input({ ...imported, sentSinceReply: 0 }))).to.deep.equal({ kind: 'keep', reason: 'never-contacted' });
    expect(decidePrune(input({ ...imported, sentSinceReply: 1, unansweredTemplates: 1 }))).to.deep.include({ kind: 'prune', reason: 'no-reply' });
    expect(decidePrune(input({ lastInboundAt: undefined, subscribedAt: daysAgo(10), sentSinceReply: 2, unansweredTemplates: 2 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
    expect(decidePrune(input({ lastInboundAt: undefined, subscribedAt: undefined, sentSinceReply: 2 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
  });

  it('a subscription renewed since the last message (an import) counts as the latest reply', () => {
    expect(decidePrune(input({ lastInboundAt: daysAgo(60), subscribedAt: daysAgo(5), sentSinceReply: 2 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
  });

  it('never prunes while the window is open, whatever the counters say', () => {
    expect(decidePrune(input({ lastInboundAt: new Date(NOW.getTime() - DAY + 1), unansweredTemplates: 5 }))).to.deep.equal({ kind: 'keep', reason: 'window-open' });
    expect(decidePrune(input({ lastInboundAt: daysAgo(1), unansweredTemplates: 5 }))).to.deep.include({ kind: 'prune' });
  });

  it('only subscribed contacts that are not removed are pruned', () => {
    const silent = { lastInboundAt: daysAgo(60), unansweredTemplates: 5, sentSinceReply: 5 };
    expect(decidePrune(input({ ...silent, contactStatus: 'removed' }))).to.deep.equal({ kind: 'keep', reason: 'removed' });
    expect(decidePrune(input({ ...silent, subscription: 'pending' }))).to.deep.equal({ kind: 'keep', reason: 'not-subscribed' });
    expect(decidePrune(input({ ...silent, subscription: 'unsubscribed' }))).to.deep.equal({ kind: 'keep', reason: 'not-subscribed' });
    expect(decidePrune(input({ ...silent, subscription: undefined }))).to.deep.equal({ kind: 'keep', reason: 'not-subscribed' });
    expect(decidePrune(input({ ...silent, contactStatus: 'lapsed' }))).to.deep.include({ kind: 'prune' });
  });

  it('0 turns a rule off', () => {
    expect(decidePrune(input({ lastInboundAt: daysAgo(400), afterDays: 0 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
    expect(decidePrune(input({ unansweredTemplates: 50, sentSinceReply: 50, afterUnansweredTemplates: 0 }))).to.deep.equal({ kind: 'keep', reason: 'within-limits' });
  });

  it('every reason in the exported lists is reachable', () => {
    const decisions = [
      input(), input({ lastInboundAt: daysAgo(31) }), input({ unansweredTemplates: 3 }), input({ contactStatus: 'removed' }),
      input({ subscription: 'pending' }), input({ lastInboundAt: daysAgo(0) }), input({ lastInboundAt: daysAgo(31), sentSinceReply: 0 }),
    ].map(decidePrune);
    expect(new Set(decisions.filter((d) => d.kind === 'prune').map((d) => d.reason))).to.deep.equal(new Set(PRUNE_REASONS));
    expect(new Set(decisions.filter((d) => d.kind === 'keep').map((d) => d.reason))).to.deep.equal(new Set(PRUNE_KEEP_REASONS));
  });
});
