import type { DailyRunSettings } from '../../config/daily-runs.js';
import { formatWallTime, nextSlots } from '../domain/cron-schedule.js';
import type { PlanSummary } from '../store/broadcast-repository.js';
import type { DailyRun, DailyRunRepository } from '../store/daily-run-repository.js';
import { shownUrl } from './data-source-client.js';
import type { DryRunReport } from './daily-run.js';

/** A run as `--status --json` prints it: dates as ISO strings. */
export interface RunView {
  id: string;
  topic: string;
  slot: string;
  trigger: string;
  state: string;
  attempts: number;
  reason?: string;
  broadcastId?: string;
  estimatedCost?: number;
  currency?: string;
  recipients?: { session: number; template: number; skipped: number };
  lastError?: string;
  nextAttemptAt?: string;
  finishedAt?: string;
}

export interface TopicView {
  topic: string;
  schedule: string;
  source: string;
  /** The next scheduled slots, ISO instants. */
  next: string[];
  lastSuccessAt?: string;
}

export interface DailyStatus {
  timezone: string;
  topics: TopicView[];
  runs: RunView[];
}

/** How many next times `--status` shows per topic. */
const NEXT_SHOWN = 3;

export function runView(run: DailyRun): RunView {
  const iso = (d: Date | undefined) => d?.toISOString();
  const view: RunView = {
    id: run.id, topic: run.topic, slot: run.slot.toISOString(), trigger: run.trigger, state: run.state, attempts: run.attempts,
    reason: run.reason, broadcastId: run.broadcastId, estimatedCost: run.estimatedCost, currency: run.currency, recipients: run.recipients,
    lastError: run.state === 'retrying' || run.state === 'running' ? run.lastError : undefined,
    nextAttemptAt: run.state === 'retrying' ? iso(run.nextAttemptAt) : undefined,
    finishedAt: iso(run.finishedAt),
  };
  return Object.fromEntries(Object.entries(view).filter(([, v]) => v !== undefined)) as unknown as RunView;
}

/** The configured topics with their next times, and the latest runs (of one topic, or all). */
export async function dailyStatus(runs: DailyRunRepository, settings: DailyRunSettings, timezone: string, now: Date, options: { topic?: string; limit: number }): Promise<DailyStatus> {
  const topics: TopicView[] = [];
  for (const topic of settings.topics.values()) {
    if (options.topic !== undefined && topic.topic !== options.topic) continue;
    const lastSuccess = await runs.lastSuccessAt(topic.topic);
    topics.push({
      topic: topic.topic,
      schedule: topic.schedule.expression,
      source: topic.source.url.startsWith('sandbox:/') ? topic.source.url : shownUrl(topic.source.url),
      next: nextSlots(topic.schedule, timezone, now, NEXT_SHOWN).map((d) => d.toISOString()),
      ...(lastSuccess ? { lastSuccessAt: lastSuccess.toISOString() } : {}),
    });
  }
  return { timezone, topics, runs: (await runs.recent(options.limit, options.topic)).map(runView) };
}

function planLine(plan: PlanSummary | RunView['recipients'], cost?: number, currency?: string): string {
  const skipped = plan && 'skipped' in plan ? (typeof plan.skipped === 'number' ? plan.skipped : Object.values(plan.skipped).reduce((a, b) => a + b, 0)) : 0;
  const figures = plan ? `${plan.template} templates, ${plan.session} session messages${skipped > 0 ? `, ${skipped} skipped` : ''}` : '';
  return `${figures}${cost === undefined ? '' : `${figures ? '; ' : ''}estimated cost ${cost.toFixed(2)} ${currency ?? ''}`.trimEnd()}`;
}

/** One line about a run: what happened and why. */
export function describeRun(run: RunView, timezone: string): string {
  switch (run.state) {
    case 'published':
      return `published broadcast ${run.broadcastId ?? '?'} (${planLine(run.recipients, run.estimatedCost, run.currency)})`;
    case 'unchanged':
      return `unchanged: ${run.reason ?? 'same data as last published'}; nothing published`;
    case 'failed':
      return `failed: ${run.reason ?? 'unknown reason'}`;
    case 'skipped-budget':
      return `skipped: ${run.reason ?? 'above the budget'}`;
    case 'retrying':
      return `retrying${run.nextAttemptAt ? ` at ${formatWallTime(timezone, new Date(run.nextAttemptAt))}` : ''} (attempt ${run.attempts} failed: ${run.lastError ?? 'unknown error'})`;
    default:
      return `running (attempt ${run.attempts})`;
  }
}

/** The status as text: each topic's schedule and next times, then the latest runs. */
export function formatDailyStatus(status: DailyStatus): string {
  const tz = status.timezone;
  const lines: string[] = [];
  if (status.topics.length === 0) lines.push('no daily runs configured');
  for (const topic of status.topics) {
    const next = topic.next.map((n) => formatWallTime(tz, new Date(n)));
    lines.push(`${topic.topic}: "${topic.schedule}" in ${tz} from ${topic.source}`);
    lines.push(`  next:         ${next.join(', ') || 'never'}`);
    lines.push(`  last success: ${topic.lastSuccessAt ? formatWallTime(tz, new Date(topic.lastSuccessAt)) : 'none yet'}`);
  }
  lines.push('', status.runs.length === 0 ? 'no runs yet' : `latest runs (slot in ${tz}):`);
  for (const run of status.runs) lines.push(`  ${formatWallTime(tz, new Date(run.slot))}  ${run.topic}  ${run.trigger.padEnd(8)}  ${describeRun(run, tz)}`);
  return lines.join('\n');
}

/** What `--dry-run` found, as text. */
export function formatDryRun(report: DryRunReport): string {
  const head = `dry run for topic ${report.topic}: nothing claimed, stored or sent`;
  switch (report.outcome) {
    case 'published':
      return `${head}\nnew data, would publish: ${JSON.stringify(report.data)}\n${planLine(report.plan, report.plan?.estimatedCost, report.plan?.currency)}`;
    case 'unchanged':
      return `${head}\nunchanged: ${report.reason ?? ''}; would publish nothing`;
    case 'skipped-budget':
      return `${head}\nwould be skipped: ${report.reason ?? ''}`;
    case 'failed':
      return `${head}\nwould fail: ${report.reason ?? ''}`;
  }
}
