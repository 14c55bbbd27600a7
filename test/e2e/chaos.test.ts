import { randomInt } from 'node:crypto';
import { expect } from 'chai';
import { ChaosRun, type ChaosResult } from '../support/chaos-run.js';

/**
 * The chaos run of `npm run bench -- chaos`, smaller: worker processes killed with SIGKILL at
 * random moments (chosen by the number of messages accepted, never by the clock) and one
 * restart of the database server, on a seed printed on failure (CHAOS_SEED repeats a run).
 * Limits are generous and only limits: nothing here depends on how fast the machine is.
 */
describe('chaos: workers killed at random moments and a database restart', function () {
  this.timeout(10 * 60_000);
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : randomInt(0, 2 ** 31 - 1);
  const log: string[] = [];
  const run = new ChaosRun({
    subscribers: 1500,
    workers: 3,
    kills: 5,
    seed,
    uri: process.env.MONGODB_URI,
    // CHAOS_FINISH_MS: a shorter wait when repeating a seed that stalled.
    finishTimeoutMs: Number(process.env.CHAOS_FINISH_MS ?? 8 * 60_000),
    report: (line) => log.push(line),
  });
  let result: ChaosResult | undefined;

  before(async () => {
    try {
      result = await run.run();
    } catch (err) {
      throw new Error(`chaos run (seed ${seed}) failed: ${(err as Error).message}\n${log.join('\n')}`, { cause: err });
    }
  });
  after(async () => {
    await run.close();
  });

  const context = () => `seed ${seed} (repeat with CHAOS_SEED=${seed})\n${log.join('\n')}\n${JSON.stringify(result?.examples)}`;

  it('carries out every planned kill and the database restart, and the broadcast ends', () => {
    expect(result?.kills, context()).to.equal(5);
    expect(result?.databaseRestarts, context()).to.equal(1);
    expect(result?.finished, context()).to.equal(true);
  });

  it('nobody got the broadcast twice', () => {
    expect(result?.checks.messagedTwice, context()).to.equal(0);
  });

  it('every delivery is in a terminal state', () => {
    expect(result?.checks.notTerminal, context()).to.equal(0);
  });

  it('every subscriber has exactly one delivery, and one without a message says why', () => {
    expect(result?.checks.withoutDelivery, context()).to.equal(0);
    expect(result?.checks.extraDeliveries, context()).to.equal(0);
    expect(result?.checks.silentlyMissing, context()).to.equal(0);
  });
});
