import { randomInt } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** Random numbers in [0, 1) that repeat for the same seed, for fault injection and statuses. */
export class SeededRandom {
  readonly seed: number;
  readonly #rng: ReturnType<typeof xoroshiro128plus>;

  constructor(seed?: number) {
    this.seed = seed ?? randomInt(0, 2 ** 31 - 1);
    this.#rng = xoroshiro128plus(this.seed);
  }

  next(): number {
    return uniformFloat64(this.#rng);
  }

  /** True with probability `p`. Takes no number from the sequence when `p` is 0 or 1. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** An integer from `min` to `max`, both included. */
  between(min: number, max: number): number {
    return max <= min ? min : min + Math.floor(this.next() * (max - min + 1));
  }
}
