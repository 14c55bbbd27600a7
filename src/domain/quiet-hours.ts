/**
 * Quiet hours: a daily wall-clock period (`QUIET_HOURS`, such as `22:00-07:00`) in the
 * worker's time zone (`APP_TIMEZONE`) during which no nudge is sent.
 *
 * Wall-clock times are read with `Intl.DateTimeFormat` rather than date-fns-tz: date-fns-tz 3.2
 * builds its zoned dates with the process's own local-time setters, so its answers change with
 * the `TZ` the worker runs under (`formatInTimeZone(2026-03-08T01:30Z, 'Europe/Berlin')` reads
 * 02:30 under TZ=UTC but 03:30 under TZ=America/New_York, whose clocks jump that night). Intl
 * reads the time zone database directly and gives the same answer in every process.
 *
 * Semantics across daylight-saving changes (the quiet period is never shorter than written):
 * - A period of local date D starts at the first instant the clock reads its start time that
 *   day and ends at the last instant the clock reads its end time (on D, or on D + 1 when the
 *   period wraps midnight). So `22:00-07:00` lasts 8 hours on the night the clocks spring
 *   forward and 10 hours on the night they fall back.
 * - A time the clock skips (02:30 on a spring-forward night in Europe/Berlin) is reached when
 *   the clock jumps over it (03:00 local).
 * - A time the clock shows twice (02:30 on a fall-back night): a period starts at the first and
 *   ends at the second of the two.
 * - Periods of consecutive days that touch or overlap after a change count as one.
 */

export interface WallTime {
  /** 0 to 23. */
  readonly hour: number;
  /** 0 to 59. */
  readonly minute: number;
}

/** A parsed `QUIET_HOURS` value. When `end` is not after `start` the period wraps midnight. */
export interface QuietHours {
  readonly start: WallTime;
  readonly end: WallTime;
}

/** One concrete quiet period: quiet from `start` (inclusive) to `end` (exclusive). */
export interface QuietPeriod {
  readonly start: Date;
  readonly end: Date;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** The largest daylight-saving shift in the time zone database (most are exactly this). */
const LARGEST_CLOCK_SHIFT_MS = HOUR_MS;

const QUIET_HOURS_FORMAT = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/;

/**
 * Parses `HH:MM-HH:MM` (24-hour clock; `24:00` is accepted as an end meaning midnight).
 * An empty or blank text means no quiet hours (undefined).
 * @throws RangeError naming what is wrong: not that shape, a time that does not exist, or a
 *   start equal to the end (which would be an empty or a whole-day period).
 */
export function parseQuietHours(text: string): QuietHours | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const match = QUIET_HOURS_FORMAT.exec(trimmed);
  if (!match) throw new RangeError(`"${trimmed}" is not HH:MM-HH:MM`);
  const [, sh, sm, eh, em] = match as unknown as [string, string, string, string, string];
  const start = wallTime(Number(sh), Number(sm), false);
  const end = wallTime(Number(eh), Number(em), true);
  if (start === undefined) throw new RangeError(`"${sh}:${sm}" is not a time of day`);
  if (end === undefined) throw new RangeError(`"${eh}:${em}" is not a time of day`);
  if (minutesOf(start) === minutesOf(end)) throw new RangeError('start and end are the same time (an empty or whole-day period)');
  return { start, end };
}

/** `22:00-07:00`: the canonical text of parsed quiet hours (for logs and records). */
export function formatQuietHours(hours: QuietHours): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const text = (t: WallTime) => `${two(t.hour)}:${two(t.minute)}`;
  return `${text(hours.start)}-${text(hours.end)}`;
}

/** Whether the instant falls inside quiet hours (never, when there are none). */
export function isQuiet(hours: QuietHours | undefined, at: Date, timeZone: string): boolean {
  return quietPeriodAt(hours, at, timeZone) !== undefined;
}

/** The quiet period the instant falls into (`start <= at < end`), or undefined outside quiet hours. */
export function quietPeriodAt(hours: QuietHours | undefined, at: Date, timeZone: string): QuietPeriod | undefined {
  if (!hours) return undefined;
  const t = at.getTime();
  const period = periodsAround(hours, t, timeZone).find((p) => p.start <= t && t < p.end);
  return period && toPeriod(period);
}

/**
 * The quiet period the instant falls into, or else the next one to begin after it; undefined
 * only when there are no quiet hours.
 */
export function currentOrNextQuietPeriod(hours: QuietHours | undefined, at: Date, timeZone: string): QuietPeriod | undefined {
  if (!hours) return undefined;
  const t = at.getTime();
  const period = periodsAround(hours, t, timeZone).find((p) => t < p.end);
  return period && toPeriod(period);
}

/**
 * The longest a single quiet period can last: its length on the clock plus the largest
 * daylight-saving shift. For look-ahead horizons (a nudge can move this far earlier).
 */
export function longestQuietPeriodMs(hours: QuietHours | undefined): number {
  if (!hours) return 0;
  const minutes = (minutesOf(hours.end) - minutesOf(hours.start) + 24 * 60) % (24 * 60);
  return minutes * MINUTE_MS + LARGEST_CLOCK_SHIFT_MS;
}

function wallTime(hour: number, minute: number, isEnd: boolean): WallTime | undefined {
  if (isEnd && hour === 24 && minute === 0) return { hour: 0, minute: 0 };
  if (!Number.isInteger(hour) || !Number.isInteger(minute) || hour > 23 || minute > 59) return undefined;
  return { hour, minute };
}

function minutesOf(t: WallTime): number {
  return t.hour * 60 + t.minute;
}

interface Span {
  start: number;
  end: number;
}

function toPeriod(span: Span): QuietPeriod {
  return { start: new Date(span.start), end: new Date(span.end) };
}

/**
 * The quiet periods of the local dates from two days before the instant's to two days after,
 * in order, with touching or overlapping ones merged. Any period containing the instant, and
 * the next one after it, is among them.
 */
function periodsAround(hours: QuietHours, t: number, timeZone: string): Span[] {
  const localDay = Math.floor(wallClockMs(t, timeZone) / DAY_MS);
  const wraps = minutesOf(hours.end) <= minutesOf(hours.start);
  const spans: Span[] = [];
  for (let day = localDay - 2; day <= localDay + 2; day += 1) spans.push(periodOfDay(hours, day, wraps, timeZone));
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}

/** Memo of the periods of local days: converting wall-clock times is the costly part, and a keeper pass asks about the same few days thousands of times. */
const dayPeriods = new Map<string, Readonly<Span>>();
const DAY_PERIODS_KEPT = 4096;

function periodOfDay(hours: QuietHours, day: number, wraps: boolean, timeZone: string): Readonly<Span> {
  const key = `${timeZone} ${formatQuietHours(hours)} ${day}`;
  let span = dayPeriods.get(key);
  if (!span) {
    const startWall = day * DAY_MS + minutesOf(hours.start) * MINUTE_MS;
    const endWall = (wraps ? day + 1 : day) * DAY_MS + minutesOf(hours.end) * MINUTE_MS;
    span = { start: firstInstantReading(startWall, timeZone), end: lastInstantReading(endWall, timeZone) };
    if (dayPeriods.size >= DAY_PERIODS_KEPT) dayPeriods.clear();
    dayPeriods.set(key, span);
  }
  return span;
}

/** The earliest instant the clock reads `wall`, or the moment it jumps over `wall`. */
function firstInstantReading(wall: number, timeZone: string): number {
  const instants = instantsReading(wall, timeZone);
  return instants[0] ?? jumpOver(wall, timeZone);
}

/** The latest instant the clock reads `wall`, or the moment it jumps over `wall`. */
function lastInstantReading(wall: number, timeZone: string): number {
  const instants = instantsReading(wall, timeZone);
  return instants[instants.length - 1] ?? jumpOver(wall, timeZone);
}

/**
 * The instants whose local reading is exactly `wall` (a wall-clock time written as UTC
 * milliseconds): none in a gap, two in a repeated hour, else one; ascending.
 */
function instantsReading(wall: number, timeZone: string): number[] {
  const offsets = new Set([offsetMs(wall - DAY_MS, timeZone), offsetMs(wall, timeZone), offsetMs(wall + DAY_MS, timeZone)]);
  const instants = [...offsets].map((offset) => wall - offset).filter((t) => wallClockMs(t, timeZone) === wall);
  return [...new Set(instants)].sort((a, b) => a - b);
}

/**
 * For a wall-clock time in a gap: the first instant whose reading is later than it (the
 * moment the clock jumps). Searched to the second between the readings of the offsets
 * before and after the gap.
 */
function jumpOver(wall: number, timeZone: string): number {
  const candidates = [offsetMs(wall - DAY_MS, timeZone), offsetMs(wall + DAY_MS, timeZone)].map((offset) => wall - offset);
  let low = Math.min(...candidates); // reads earlier than `wall`
  let high = Math.max(...candidates); // reads later than `wall`
  while (high - low > 1000) {
    const mid = low + Math.floor((high - low) / 2000) * 1000;
    if (wallClockMs(mid, timeZone) > wall) high = mid;
    else low = mid;
  }
  return high;
}

function offsetMs(t: number, timeZone: string): number {
  return wallClockMs(t, timeZone) - t;
}

/** Memo of formatters per time zone (building one is slow); filled on first use, answers never change. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The local reading of an instant in the time zone, as the UTC milliseconds of the same fields. */
function wallClockMs(t: number, timeZone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(t)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const { year = NaN, month = NaN, day = NaN, hour = NaN, minute = NaN, second = NaN } = fields;
  const millis = ((t % 1000) + 1000) % 1000;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis);
}
