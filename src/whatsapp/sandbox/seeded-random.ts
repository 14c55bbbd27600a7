import { randomInt } from 'node:crypto';
import { SimulationRandom } from '../../domain/simulation/random.js';

/**
 * Random numbers in [0, 1) that repeat for the same seed, for fault injection and statuses: the
 * simulator's seeded stream (pure-rand's xoroshiro128+), with a random seed when none is given.
 */
export class SeededRandom extends SimulationRandom {
  readonly seed: number;

  constructor(seed?: number) {
    const chosen = seed ?? randomInt(0, 2 ** 31 - 1);
    super(chosen);
    this.seed = chosen;
  }

  /** An integer from `min` to `max`, both included. */
  between(min: number, max: number): number {
    return max <= min ? min : min + Math.floor(this.next() * (max - min + 1));
  }
}
