import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/**
 * Seeded random numbers for the simulation: the same seed gives the same sequence on every
 * machine (pure-rand's xoroshiro128+). One stream per purpose and subscriber, derived from the
 * run's seed with `streamSeed`, so that the population and the publishing times are the same
 * under every strategy and a subscriber's draws do not shift when another one draws more.
 */
export class SimulationRandom {
  readonly #rng: ReturnType<typeof xoroshiro128plus>;

  constructor(seed: number) {
    this.#rng = xoroshiro128plus(seed | 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.#rng);
  }

  /** True with probability `p`; takes no number from the stream when `p` is 0 or 1. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** Exponentially distributed with this mean (a waiting time); 0 for a mean of 0. */
  exponential(mean: number): number {
    if (mean <= 0) return 0;
    return -Math.log(1 - this.next()) * mean;
  }

  /**
   * Beta-distributed in [0, 1] with this mean and concentration (α + β): how a share that
   * differs from person to person is spread around the population's mean. A mean of 0 or 1
   * gives exactly that, for everyone.
   */
  beta(mean: number, concentration: number): number {
    if (mean <= 0) return 0;
    if (mean >= 1) return 1;
    const x = this.gamma(mean * concentration);
    const y = this.gamma((1 - mean) * concentration);
    return x + y > 0 ? x / (x + y) : mean;
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang's method (boosted below shape 1). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.next(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** A seed for stream `index` of purpose `purpose` under the run's `seed` (a 32-bit integer hash). */
export function streamSeed(seed: number, purpose: number, index: number): number {
  let h = Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(purpose + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h | 0;
}
