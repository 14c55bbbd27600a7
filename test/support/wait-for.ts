import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by a check to stop waiting at once (the awaited thing can no longer happen). */
export class WaitAborted extends Error {}

/**
 * Polls `check` until it returns something other than undefined/false, or fails after
 * `timeoutMs` with `what` in the message. Tests wait for conditions, never for fixed times.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await sleep(everyMs);
  }
}
