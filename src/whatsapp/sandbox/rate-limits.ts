/**
 * Token buckets driven by an injected time (milliseconds), so limits are tested with a
 * ManualClock at their edges. Small on purpose: the limiter libraries on npm read the wall
 * clock themselves, which would make these edges untestable.
 */
export class TokenBucket {
  #tokens: number;
  #at: number | undefined;

  /** Holds at most `capacity` tokens and gains one every `msPerToken`. */
  constructor(
    private readonly capacity: number,
    private readonly msPerToken: number,
  ) {
    this.#tokens = capacity;
  }

  /** Takes one token if there is one. */
  take(nowMs: number): boolean {
    if (this.#at !== undefined && nowMs > this.#at) this.#tokens = Math.min(this.capacity, this.#tokens + (nowMs - this.#at) / this.msPerToken);
    if (this.#at === undefined || nowMs > this.#at) this.#at = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export interface PairRate {
  /** One more message to the same contact every this many ms ... */
  intervalMs: number;
  /** ... after a burst of this many. */
  burst: number;
}

/** One bucket per contact (Meta's pair rate: about one message per 6 s, short bursts tolerated). */
export class PairRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(private readonly rate: PairRate) {}

  take(contact: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(contact);
    if (!bucket) {
      bucket = new TokenBucket(this.rate.burst, this.rate.intervalMs);
      this.#buckets.set(contact, bucket);
    }
    return bucket.take(nowMs);
  }

  clear(): void {
    this.#buckets.clear();
  }
}
