import { expect } from 'chai';
import { BackgroundDrain } from '../../src/app/background-drain.js';
import { captureLogger } from '../support/test-config.js';

describe('BackgroundDrain: work handed over on demand, in the background', () => {
  it('with gatherMs, kicks that come meanwhile make one pass, not one each', async () => {
    let passes = 0;
    const drain = new BackgroundDrain(async () => ++passes, captureLogger('error').logger, 'test', 30);
    for (let i = 0; i < 100; i += 1) drain.kick();
    await drain.idle();
    expect(passes).to.equal(1);
    drain.kick();
    await drain.idle();
    expect(passes).to.equal(2);
  });

  it('a kick during a pass makes one more pass afterwards, so nothing kicked is left waiting', async () => {
    let passes = 0;
    let release: () => void = () => undefined;
    const drain = new BackgroundDrain(async () => {
      passes += 1;
      if (passes === 1) await new Promise<void>((resolve) => (release = resolve));
      return passes;
    }, captureLogger('error').logger, 'test');
    drain.kick();
    drain.kick();
    drain.kick();
    release();
    await drain.idle();
    expect(passes).to.equal(2);
  });

  it('stop() drops a gathered pass that has not started (the work stays stored) and ignores later kicks', async () => {
    let passes = 0;
    const drain = new BackgroundDrain(async () => ++passes, captureLogger('error').logger, 'test', 10_000);
    drain.kick();
    await drain.stop();
    drain.kick();
    await drain.idle();
    expect(passes).to.equal(0);
  });
});
