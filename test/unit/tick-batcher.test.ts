import { expect } from 'chai';
import { TickBatcher } from '../../src/store/tick-batcher.js';

describe('TickBatcher: calls of one event-loop turn as one batch', () => {
  it('runs the calls made in the same turn once, and gives each caller its own result', async () => {
    const runs: number[][] = [];
    const batcher = new TickBatcher<number, number>(async (inputs) => {
      runs.push(inputs);
      return inputs.map((n) => n * 10);
    });
    const results = await Promise.all([batcher.call(1), batcher.call(2), batcher.call(3)]);
    expect(results).to.deep.equal([10, 20, 30]);
    expect(runs).to.deep.equal([[1, 2, 3]]);
  });

  it('does not hold a later call back for a batch still being written: it goes in the next one', async () => {
    const runs: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = new TickBatcher<number, number>(async (inputs) => {
      runs.push(inputs);
      if (runs.length === 1) await gate;
      return inputs;
    });
    const first = batcher.call(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = batcher.call(2);
    expect(await second).to.equal(2);
    release();
    expect(await first).to.equal(1);
    expect(runs).to.deep.equal([[1], [2]]);
  });

  it('rejects every caller of a batch that failed, and the next batch runs anew', async () => {
    let fail = true;
    const batcher = new TickBatcher<string, string>(async (inputs) => {
      if (fail) throw new Error('connection lost');
      return inputs;
    });
    const outcomes = await Promise.allSettled([batcher.call('a'), batcher.call('b')]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected']);
    fail = false;
    expect(await batcher.call('c')).to.equal('c');
  });

  it('with a gathering time, a batch also takes the calls made within it after the first', async () => {
    const runs: number[][] = [];
    const batcher = new TickBatcher<number, number>(async (inputs) => {
      runs.push(inputs);
      return inputs;
    }, 20);
    const first = batcher.call(1);
    await new Promise((resolve) => setImmediate(resolve)); // a later turn of the event loop
    const second = batcher.call(2);
    expect(await Promise.all([first, second])).to.deep.equal([1, 2]);
    expect(runs).to.deep.equal([[1, 2]]);
  });
});
