import { backoff, type BackoffPolicy } from './backoff.js';
import type { FieldSpec } from './broadcast-content.js';
import type { CronSchedule } from './cron-schedule.js';

/**
 * The daily run's rules: how a source's JSON answer becomes a topic's data (as `--data` takes
 * it), when that data counts as new, and how long a failing fetch is retried. No I/O.
 */

/** A step into a JSON value: an object key or an array index. */
export type PathStep = string | number;

/** One topic's daily run, as configured in DAILY_RUNS_FILE (secrets already taken from the environment). */
export interface DailyRunTopic {
  topic: string;
  schedule: CronSchedule;
  source: {
    /** An http(s) URL, or `sandbox:/path` on the built-in sandbox. */
    url: string;
    headers: Readonly<Record<string, string>>;
    timeoutMs: number;
  };
  /** Data field of the topic → the path of its value in the answer, as written (`data.cases`). */
  fields: Readonly<Record<string, string>>;
  /** The field whose value alone decides whether the data is new (a date, a release number). */
  version?: string;
  /** The topic's template by name (default: its first). */
  template?: string;
  /** A slot is run, retried and caught up on until this long after it. */
  graceMs: number;
  /** The most a run of this topic may cost; undefined: PUBLISH_BUDGET. */
  budget?: number;
}

/** How a run ended. `failed`: the source did not answer in time or its answer did not map. */
export type DailyOutcome = 'published' | 'unchanged' | 'failed' | 'skipped-budget';
export type DailyRunState = 'running' | 'retrying' | DailyOutcome;
export const DAILY_OUTCOMES: readonly DailyOutcome[] = ['published', 'unchanged', 'failed', 'skipped-budget'];

export function isFinal(state: DailyRunState): state is DailyOutcome {
  return (DAILY_OUTCOMES as readonly string[]).includes(state);
}

/** Retries of a failing fetch: soon at first, then spread out; the grace period ends them. */
export const FETCH_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 1000, maxMs: 5 * 60_000, maxAttempts: 1000 });

const PATH = /^(?:[^.[\]]+|\[\d+\])(?:\.[^.[\]]+|\[\d+\])*$/;

/** The steps of a path such as `data.series[0].cases` (`[0].cases` starts at an array); undefined if it is not one. */
export function parsePath(path: string): PathStep[] | undefined {
  if (!PATH.test(path)) return undefined;
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] === undefined ? (m[1] as string) : Number(m[2])));
}

function describe(value: unknown): string {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value === 'string' ? 'text' : `a ${typeof value}`;
  if (typeof value === 'object') return kind;
  const shown = JSON.stringify(value);
  return `${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown} (${kind})`;
}

function valueAt(answer: unknown, steps: readonly PathStep[]): { found: true; value: unknown } | { found: false } {
  let at: unknown = answer;
  for (const step of steps) {
    if (typeof step === 'number' ? !Array.isArray(at) || step >= at.length : at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, step)) return { found: false };
    at = (at as Record<string | number, unknown>)[step];
  }
  return { found: true, value: at };
}

function typeProblem(value: unknown, spec: FieldSpec | undefined): string | undefined {
  if (spec?.type === 'number') return typeof value === 'number' && Number.isFinite(value) ? undefined : 'a number';
  if (spec?.type === 'date') {
    const ok = (typeof value === 'string' && value.trim() !== '') || typeof value === 'number' ? !Number.isNaN(new Date(value).getTime()) : false;
    return ok ? undefined : 'a date (such as "2026-11-20" or an ISO timestamp)';
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? undefined : 'text or a number';
}

export type MappedAnswer = { ok: true; data: Record<string, unknown> } | { ok: false; reason: string };

/**
 * The topic's data from a source's answer: each field's value at its path, of the field's type
 * (a number must be a JSON number, a date a date string or epoch milliseconds). The first field
 * that is missing or of the wrong type refuses the whole answer, with the reason.
 */
export function mapAnswer(answer: unknown, paths: Readonly<Record<string, string>>, fields: Readonly<Record<string, FieldSpec>>): MappedAnswer {
  const data: Record<string, unknown> = {};
  for (const [field, path] of Object.entries(paths)) {
    const steps = parsePath(path);
    const at = steps ? valueAt(answer, steps) : { found: false as const };
    if (!at.found || at.value === undefined) return { ok: false, reason: `${field}: ${path} is missing in the answer` };
    const expected = typeProblem(at.value, fields[field]);
    if (expected) return { ok: false, reason: `${field}: ${path} is ${describe(at.value)}, expected ${expected}` };
    data[field] = at.value;
  }
  return { ok: true, data };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What identifies a dataset: its version field's value when one is named (a republished
 * dataset with the same version is not new), else every mapped field. Data is new when its
 * key differs from the key of the data last published for the topic.
 */
export function datasetKey(data: Readonly<Record<string, unknown>>, version: string | undefined): string {
  return version === undefined ? `data:${canonical(data)}` : `version:${canonical(data[version])}`;
}

/**
 * Whether and when to fetch again after a failure: the backoff delay (`random` in [0, 1)), or
 * null when the error is permanent or the next try would come after `deadline` (the end of
 * the slot's grace period).
 */
export function retryDelay(attempt: number, error: unknown, random: number, now: Date, deadline: Date): number | null {
  const delay = backoff(attempt, error, random, FETCH_BACKOFF);
  if (delay === null || now.getTime() + delay > deadline.getTime()) return null;
  return delay;
}

/** The run of a topic's slot, as it is claimed and keyed: `fallzahlen@2026-11-20T08:00:00.000Z`. */
export function runKey(topic: string, slot: Date): string {
  return `${topic}@${slot.toISOString()}`;
}

/** The idempotency key of the broadcast a run publishes: one per topic and slot. */
export function broadcastKeyOf(topic: string, slot: Date): string {
  return `daily:${topic}:${slot.toISOString()}`;
}

/**
 * The slot of a run started by hand (`npm run daily -- --now`): the minute it starts in. A
 * scheduled slot of that same minute is the same claim, so the two cannot both run.
 */
export function manualSlot(now: Date): Date {
  return new Date(Math.floor(now.getTime() / 60_000) * 60_000);
}
