import { expect } from 'chai';
import { backoff } from '../../src/domain/backoff.js';
import { PermanentError, RateLimitedError, TransientError } from '../../src/domain/errors.js';

describe('backoff', () => {
  const policy = { baseMs: 1000, maxMs: 60_000, maxAttempts: 5 };
  const transient = new TransientError('timeout', { code: 'timeout' });

  it('never retries a permanent error', () => {
    expect(backoff(1, new PermanentError('bad number', { code: '131026' }), 0.5, policy)).to.equal(null);
  });

  it('doubles the delay per attempt, with jitter between half and all of it', () => {
    expect(backoff(1, transient, 0, policy)).to.equal(500);
    expect(backoff(1, transient, 0.999, policy)).to.be.closeTo(1000, 1);
    expect(backoff(3, transient, 0, policy)).to.equal(2000);
    expect(backoff(3, transient, 0.999, policy)).to.be.closeTo(4000, 2);
  });

  it('is capped at maxMs and stops after maxAttempts', () => {
    expect(backoff(5, transient, 0.999, { ...policy, maxMs: 3000 })).to.be.closeTo(3000, 2);
    expect(backoff(6, transient, 0.5, policy)).to.equal(null);
  });

  it('waits at least as long as a rate limit asks', () => {
    const limited = new RateLimitedError('slow down', { code: '130429', retryAfterMs: 30_000 });
    expect(backoff(1, limited, 0, policy)).to.equal(30_000);
  });
});
