import type { Clock } from '../domain/clock.js';

/** The real clock: the only place that reads the wall time. */
export const systemClock: Clock = Object.freeze({
  now: () => new Date(),
});
