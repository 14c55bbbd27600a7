import { expect } from 'chai';
import { sweepIntervalMs } from '../../src/domain/delivery-policy.js';

describe('the broadcast sweep: how often sends left in flight are looked at', () => {
  it('every 15 s with the default (a send is unknown after 10 minutes)', () => {
    expect(sweepIntervalMs(600_000)).to.equal(15_000);
    expect(sweepIntervalMs(60_000)).to.equal(15_000);
  });

  it('every quarter of DELIVERY_UNKNOWN_AFTER_MS when that is shorter, so a send ends at most a quarter of it late', () => {
    expect(sweepIntervalMs(40_000)).to.equal(10_000);
    expect(sweepIntervalMs(8000)).to.equal(2000);
  });

  it('never more often than once a second', () => {
    expect(sweepIntervalMs(1000)).to.equal(1000);
  });
});
