/**
 * When a cron schedule fires, in a time zone, as instants: the slots of the daily run. Plain
 * data in (the expanded fields of a node-cron expression), instants out, `now` passed in.
 *
 * Wall-clock times that a daylight-saving change skips or repeats follow cron's rule (Vixie
 * cron, and what an operator expects of "every day at 02:30"):
 * - a fixed hour (`30 2 * * *`): a time the clocks skip runs once, at the first valid instant
 *   after the gap (02:30 on the spring-forward day runs at 03:00); a time they repeat runs
 *   once, at its first occurrence. Nothing is skipped, nothing doubled.
 * - an hour wildcard (`*\/15 * * * *`, `0 * * * *`): the schedule follows real time, so both
 *   passes of a repeated hour run and skipped times do not.
 * node-cron's own matcher checks the wall-clock parts of each second, so it skips 02:30 on
 * the spring-forward day and fires twice on fall-back: the worker asks these functions instead.
 */

/** A node-cron expression expanded: every field a list of the values it allows. */
export interface CronFields {
  seconds: readonly number[];
  minutes: readonly number[];
  hours: readonly number[];
  /** Days 1 to 31, or `L`, `L-n`, `nW`, `LW`. */
  daysOfMonth: readonly (number | string)[];
  /** 1 to 12. */
  months: readonly number[];
  /** 0 (Sunday) to 6, or `nL` (last n-day of the month), `n#k` (k-th n-day). */
  daysOfWeek: readonly (number | string)[];
}

export interface CronSchedule {
  /** As written in the configuration. */
  expression: string;
  fields: CronFields;
  /** The hour field is a wildcard (`*`, `*\/2`): the schedule follows real time across DST changes. */
  everyHour: boolean;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How far `nextSlots` looks ahead for a schedule that fires rarely (29 February on a Monday: 28 years). */
const HORIZON_DAYS = 366 * 30;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The offset of `timeZone` at instant `t` (ms): wall clock = t + offset. */
export function offsetAt(timeZone: string, t: number): number {
  const whole = Math.floor(t / SECOND) * SECOND;
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(whole))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wall - whole;
}

/** The wall-clock time of instant `t` in `timeZone`, as milliseconds of a UTC date with those digits. */
function wallOf(timeZone: string, t: number): number {
  return t + offsetAt(timeZone, t);
}

interface Transition {
  /** The first instant with the new offset. */
  at: number;
  before: number;
  after: number;
}

/**
 * The offset change among the instants whose wall time can fall on local day `day` (offsets
 * lie between -12 and +14 hours), found by bisection to the second. Zones change at most once
 * in two days.
 */
function transitionAround(timeZone: string, day: number): Transition | undefined {
  let lo = day - 15 * HOUR;
  let hi = day + DAY + 13 * HOUR;
  const before = offsetAt(timeZone, lo);
  const after = offsetAt(timeZone, hi);
  if (before === after) return undefined;
  while (hi - lo > SECOND) {
    const mid = Math.floor((lo + hi) / 2 / SECOND) * SECOND;
    if (offsetAt(timeZone, mid) === before) lo = mid;
    else hi = mid;
  }
  return { at: hi, before, after };
}

/**
 * The instants of wall time `wall` in a zone with at most this one transition: one, none (the
 * clocks skip it) or two (they repeat it), earliest first.
 */
function instantsOf(wall: number, offset: number, transition: Transition | undefined): number[] {
  if (!transition) return [wall - offset];
  const out: number[] = [];
  if (wall - transition.before < transition.at) out.push(wall - transition.before);
  if (wall - transition.after >= transition.at) out.push(wall - transition.after);
  return out;
}

function lastDayOfMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The weekday nearest to day `target` within its month (node-cron's `nW`). */
function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOfMonth(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

function matchesDayOfMonth(field: readonly (number | string)[], year: number, month: number, day: number): boolean {
  const last = lastDayOfMonth(year, month);
  return field.some((value) => {
    if (value === day) return true;
    if (typeof value === 'number') return false;
    if (value === 'L') return day === last;
    const weekday = /^(\d{1,2}|L)W$/.exec(value);
    if (weekday) return nearestWeekday(year, month, weekday[1] === 'L' ? last : Number(weekday[1])) === day;
    const offset = /^L-(\d{1,2})$/.exec(value);
    return offset !== null && last - Number(offset[1]) === day;
  });
}

function matchesDayOfWeek(field: readonly (number | string)[], year: number, month: number, day: number, weekday: number): boolean {
  return field.some((value) => {
    if (value === weekday) return true;
    if (typeof value === 'number') return false;
    const nth = /^([0-7])#([1-5])$/.exec(value);
    if (nth) return Number(nth[1]) % 7 === weekday && Math.floor((day - 1) / 7) + 1 === Number(nth[2]);
    const lastOf = /^([0-7])L$/.exec(value);
    return lastOf !== null && Number(lastOf[1]) % 7 === weekday && day + 7 > lastDayOfMonth(year, month);
  });
}

/** Whether the schedule fires on local day `day` (midnight of that date, as UTC milliseconds). */
function firesOn(fields: CronFields, day: number): boolean {
  const date = new Date(day);
  const [year, month, dayOfMonth] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
  return fields.months.includes(month) && matchesDayOfMonth(fields.daysOfMonth, year, month, dayOfMonth)
    && matchesDayOfWeek(fields.daysOfWeek, year, month, dayOfMonth, date.getUTCDay());
}

/** The slots of local day `day`, earliest first, without duplicates. */
function slotsOfDay(schedule: CronSchedule, timeZone: string, day: number): number[] {
  if (!firesOn(schedule.fields, day)) return [];
  const transition = transitionAround(timeZone, day);
  const offset = transition ? 0 : offsetAt(timeZone, day);
  const out: number[] = [];
  const { hours, minutes, seconds } = schedule.fields;
  for (const hour of hours) {
    for (const minute of minutes) {
      for (const second of seconds) {
        const wall = day + hour * HOUR + minute * MINUTE + second * SECOND;
        const instants = instantsOf(wall, offset, transition);
        if (instants.length === 0) {
          // Skipped by the clocks: a fixed time runs once the clocks are valid again.
          if (!schedule.everyHour && transition) out.push(transition.at);
        } else if (instants.length === 2 && !schedule.everyHour) {
          out.push(instants[0] as number);
        } else {
          out.push(...instants);
        }
      }
    }
  }
  if (!transition) return out; // already in order
  return [...new Set(out)].sort((a, b) => a - b);
}

function localDay(timeZone: string, t: number): number {
  return Math.floor(wallOf(timeZone, t) / DAY) * DAY;
}

/** Every slot from `from` to `to`, both included, earliest first. */
export function slotsBetween(schedule: CronSchedule, timeZone: string, from: Date, to: Date): Date[] {
  const [start, end] = [from.getTime(), to.getTime()];
  if (end < start) return [];
  const out = new Set<number>();
  for (let day = localDay(timeZone, start) - DAY; day <= localDay(timeZone, end) + DAY; day += DAY) {
    for (const slot of slotsOfDay(schedule, timeZone, day)) if (slot >= start && slot <= end) out.add(slot);
  }
  return [...out].sort((a, b) => a - b).map((t) => new Date(t));
}

/** The next `count` slots after `after` (excluded), earliest first; fewer if the schedule fires that rarely. */
export function nextSlots(schedule: CronSchedule, timeZone: string, after: Date, count: number): Date[] {
  const start = after.getTime();
  const out = new Set<number>();
  const first = localDay(timeZone, start) - DAY;
  for (let day = first; day <= first + HORIZON_DAYS * DAY && out.size < count; day += DAY) {
    // A slot of the day after can come before one of this day only around a transition; a
    // day's slots are all collected before the count is checked, and the next day's too.
    for (const slot of slotsOfDay(schedule, timeZone, day)) if (slot > start) out.add(slot);
    if (out.size >= count) for (const slot of slotsOfDay(schedule, timeZone, day + DAY)) if (slot > start) out.add(slot);
  }
  return [...out].sort((a, b) => a - b).slice(0, count).map((t) => new Date(t));
}

/**
 * The slot a run is due for at `now`: the latest one at or before `now` that is no more than
 * `graceMs` old, if any. Earlier slots in the grace period are not run: a daily run fetches
 * the newest data, so one run catches up on them all.
 */
export function dueSlot(schedule: CronSchedule, timeZone: string, now: Date, graceMs: number): Date | undefined {
  return slotsBetween(schedule, timeZone, new Date(now.getTime() - graceMs), now).at(-1);
}

/** The wall-clock time of an instant in the zone, `2026-03-29 03:00:00`, for messages. */
export function formatWallTime(timeZone: string, at: Date): string {
  return new Date(wallOf(timeZone, at.getTime())).toISOString().slice(0, 19).replace('T', ' ');
}
