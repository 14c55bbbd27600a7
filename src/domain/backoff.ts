import { PermanentError, RateLimitedError } from './errors.js';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 1000, maxMs: 5 * 60_000, maxAttempts: 8 });

/**
 * How long to wait before retry number `attempt` (1-based) after `error`, or null for never:
 * permanent errors are not retried, rate limits wait at least what the other side asked, and
 * everything else backs off exponentially with full jitter (`random` in [0, 1) is injected).
 */
export function backoff(attempt: number, error: unknown, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number | null {
  if (error instanceof PermanentError) return null;
  if (attempt > policy.maxAttempts) return null;
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling / 2 + (random * ceiling) / 2);
  return error instanceof RateLimitedError ? Math.max(error.retryAfterMs, jittered) : jittered;
}
