import { slotsBetween, type CronSchedule } from '../cron-schedule.js';
import type { WallTime } from '../quiet-hours.js';
import { SimulationRandom } from './random.js';

/**
 * How often the simulated topic publishes: every day or every weekday at a wall-clock time in
 * the worker's time zone (the times the daily run's cron schedule would give, daylight-saving
 * changes included), or irregularly with a mean interval (a Poisson process: any moment as
 * likely as any other).
 */
export type PublishingPattern =
  | { readonly kind: 'daily'; readonly time: WallTime }
  | { readonly kind: 'weekdays'; readonly time: WallTime }
  | { readonly kind: 'irregular'; readonly meanHours: number };

export const PUBLISHING_KINDS = ['daily', 'weekdays', 'irregular'] as const;

export const DEFAULT_PUBLISHING: PublishingPattern = Object.freeze({ kind: 'daily', time: Object.freeze({ hour: 9, minute: 0 }) });

const HOUR_MS = 60 * 60 * 1000;
const ALL_DAYS = Array.from({ length: 31 }, (_, i) => i + 1);
const ALL_MONTHS = Array.from({ length: 12 }, (_, i) => i + 1);

/** The pattern as a cron schedule (daily and weekdays), as the daily run's schedule would be written. */
export function scheduleOf(pattern: Extract<PublishingPattern, { kind: 'daily' | 'weekdays' }>): CronSchedule {
  const days = pattern.kind === 'daily' ? '*' : '1-5';
  return {
    expression: `${pattern.time.minute} ${pattern.time.hour} * * ${days}`,
    fields: {
      seconds: [0],
      minutes: [pattern.time.minute],
      hours: [pattern.time.hour],
      daysOfMonth: ALL_DAYS,
      months: ALL_MONTHS,
      daysOfWeek: pattern.kind === 'daily' ? [0, 1, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5],
    },
    everyHour: false,
  };
}

/** When the topic publishes in [from, to), earliest first. */
export function publishTimes(pattern: PublishingPattern, from: number, to: number, timeZone: string, random: SimulationRandom): number[] {
  if (to <= from) return [];
  if (pattern.kind !== 'irregular') {
    return slotsBetween(scheduleOf(pattern), timeZone, new Date(from), new Date(to)).map((d) => d.getTime()).filter((t) => t < to);
  }
  const times: number[] = [];
  const mean = pattern.meanHours * HOUR_MS;
  for (let t = from + random.exponential(mean); t < to; t += random.exponential(mean)) times.push(t);
  return times;
}

/** `daily at 09:00`, `weekdays at 09:00`, `irregular, every 36 h on average`. */
export function describePublishing(pattern: PublishingPattern): string {
  if (pattern.kind === 'irregular') return `irregular, every ${round(pattern.meanHours)} h on average`;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${pattern.kind} at ${two(pattern.time.hour)}:${two(pattern.time.minute)}`;
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
