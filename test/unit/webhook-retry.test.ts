import { expect } from 'chai';
import { DEFAULT_WEBHOOK_RETRY, nextRetryDelayMs, retryDelayMs } from '../../src/whatsapp/sandbox/webhook-retry.js';

describe('sandbox webhook retry: backoff', () => {
  const policy = { forMs: 10_000, firstDelayMs: 1000, maxDelayMs: 4000 };

  it('doubles from the first delay and stops growing at the cap; the jitter leaves out up to half', () => {
    expect([0, 1, 2, 3, 10, 500].map((retry) => retryDelayMs(retry, policy, 1))).to.deep.equal([1000, 2000, 4000, 4000, 4000, 4000]);
    expect([0, 1, 2, 3].map((retry) => retryDelayMs(retry, policy, 0))).to.deep.equal([500, 1000, 2000, 2000]);
    expect(retryDelayMs(1, policy, 0.5)).to.equal(1500);
  });

  it('ends at the retry time: the last wait is cut to end exactly there, and none comes after', () => {
    expect(nextRetryDelayMs(3, 0, policy, 1)).to.equal(4000);
    expect(nextRetryDelayMs(3, 7000, policy, 1)).to.equal(3000);
    expect(nextRetryDelayMs(3, 9999, policy, 1)).to.equal(1);
    expect(nextRetryDelayMs(3, 10_000, policy, 1)).to.equal(undefined);
    expect(nextRetryDelayMs(0, 0, { ...policy, forMs: 0 }, 1)).to.equal(undefined);
  });

  it('by default keeps trying for 24 h with waits of at most a minute, so a worker back after a restart gets everything within a minute', () => {
    expect(DEFAULT_WEBHOOK_RETRY.forMs).to.equal(24 * 60 * 60 * 1000);
    let waited = 0;
    let retries = 0;
    for (let delay = nextRetryDelayMs(0, 0, DEFAULT_WEBHOOK_RETRY, 1); delay !== undefined; delay = nextRetryDelayMs(retries, waited, DEFAULT_WEBHOOK_RETRY, 1)) {
      expect(delay).to.be.at.most(60_000);
      waited += delay;
      retries += 1;
    }
    expect(waited).to.equal(DEFAULT_WEBHOOK_RETRY.forMs);
    expect(retries).to.be.greaterThan(1400);
  });
});
