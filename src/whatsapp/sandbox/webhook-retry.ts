/**
 * How the sandbox retries a webhook the receiver did not answer with 2xx. Meta keeps retrying
 * with decreasing frequency for up to 7 days; the sandbox retries with exponential backoff,
 * each wait capped and jittered, until `forMs` after the first failure.
 */
export interface WebhookRetryPolicy {
  /** How long after the first failed attempt retries go on; 0: no retries. */
  forMs: number;
  /** The first wait; each next one doubles. */
  firstDelayMs: number;
  /** No wait is longer than this, so a receiver that is back gets its webhooks within it. */
  maxDelayMs: number;
  /** Webhooks waiting for a retry at most; beyond, the oldest is dropped (with a warning, counted). */
  maxPending: number;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Meta retries for up to 7 days: nothing longer is accepted. */
export const MAX_RETRY_FOR_MS = 7 * DAY_MS;

/** Long enough that a worker restart (or a weekend off) loses nothing; a webhook that is back is tried within a minute. */
export const DEFAULT_WEBHOOK_RETRY: Readonly<WebhookRetryPolicy> = Object.freeze({
  forMs: DAY_MS,
  firstDelayMs: 1000,
  maxDelayMs: 60_000,
  maxPending: 10_000,
});

/**
 * The wait before retry number `retry` (0 for the first retry): `firstDelayMs * 2^retry`, at
 * most `maxDelayMs`, of which a random half (`random` in [0, 1)) is left out, so that webhooks
 * that failed together do not all come back at the same moment.
 */
export function retryDelayMs(retry: number, policy: Pick<WebhookRetryPolicy, 'firstDelayMs' | 'maxDelayMs'>, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(Math.max(retry, 0), 40));
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(Math.max(random, 0), 1));
}

/**
 * The wait before the next retry of a webhook that has already waited `waitedMs` since its first
 * failure, or undefined when its time is up. The last wait is shortened to end at `forMs`, so
 * that the last attempt is made right at the end of the retry time.
 */
export function nextRetryDelayMs(retry: number, waitedMs: number, policy: Omit<WebhookRetryPolicy, 'maxPending'>, random: number): number | undefined {
  const left = policy.forMs - waitedMs;
  if (left <= 0) return undefined;
  return Math.min(retryDelayMs(retry, policy, random), left);
}
