import type { PopulationParams } from '../domain/simulation/population.js';
import type { MeasuredHistory } from '../domain/simulation/history.js';
import { describePublishing, type PublishingPattern } from '../domain/simulation/publishing.js';
import type { SimulationResult, StrategyResult } from '../domain/simulation/types.js';

/** What a `npm run simulate` printed on: the topic and the assumptions, for the heading. */
export interface SimulationContext {
  topic: string;
  rateCardFile: string;
  /** Calling code the prices were looked up for; undefined: the card's `*` rates. */
  country: string | undefined;
  templateCategory: string | undefined;
  timeZone: string;
  publishing: PublishingPattern;
  population: PopulationParams;
  history?: MeasuredHistory;
}

const count = new Intl.NumberFormat('en-US');

function percent(share: number | null | undefined, digits = 0): string {
  return share === null || share === undefined ? '-' : `${(share * 100).toFixed(digits)} %`;
}

function money(amount: number | null, digits = 2): string {
  return amount === null ? '-' : amount.toFixed(digits);
}

function sum(record: Readonly<Record<string, number | undefined>>): number {
  return Object.values(record).reduce<number>((a, b) => a + (b ?? 0), 0);
}

/** The assumptions in words, one line each. */
export function describeAssumptions(context: SimulationContext): string[] {
  const p = context.population;
  const lines = [
    `topic ${context.topic}: ${describePublishing(context.publishing)} (${context.timeZone}); template ${context.templateCategory ?? 'none'}; prices of ${context.rateCardFile} for ${context.country ? `+${context.country}` : 'the * rates'}`,
    `subscribers answer ${percent(p.replyToNudge)} of nudges and ${percent(p.replyToNews)} of news (each their own rate, concentration ${p.replyConcentration}), after ${p.replyDelayMinutes} min on average; ${percent(p.silentPerWeek, 1)} go silent per week; ${percent(p.stopAfterTemplate, 1)} write STOP after a template outside their window, ${percent(p.stopAfterNudge, 1)} after a nudge`,
  ];
  const h = context.history;
  if (h) {
    const measured = [
      `${h.broadcasts} broadcasts${h.publishing ? ` (${describePublishing(h.publishing)})` : ''}`,
      h.replyToNews ? `news answered ${percent(h.replyToNews.value, 1)} of ${count.format(h.replyToNews.of)}` : 'no news delivered',
      h.replyToNudge ? `nudges answered ${percent(h.replyToNudge.value, 1)} of ${count.format(h.replyToNudge.of)}` : 'no nudges sent',
      h.replyDelayMinutes ? `answers after ${h.replyDelayMinutes.value.toFixed(1)} min on average` : 'no answers',
    ];
    lines.push(`measured from the database, ${h.since.slice(0, 10)} to ${h.until.slice(0, 10)}: ${measured.join('; ')}`);
  }
  return lines;
}

/** One run as a table: a row per strategy. */
export function formatRun(result: SimulationResult): string {
  const head = `${count.format(result.subscribers)} subscribers, ${result.days} days from ${result.start.slice(0, 10)} to ${result.end.slice(0, 10)}, ${result.broadcasts} broadcasts, seed ${result.seed}`;
  const currency = result.currency;
  const columns = ['strategy', 'session', 'template', 'template in window', 'nudges', `cost ${currency}`, 'active (reading)', 'stopped', 'pruned', `${currency} / active / month`, 'news in window'];
  const rows = result.strategies.map((s: StrategyResult) => [
    s.label,
    count.format(s.messages.session),
    count.format(s.messages.template),
    count.format(s.messages.templateInWindow),
    count.format(s.messages.nudge),
    money(s.cost.total),
    `${count.format(s.subscribers.active)} (${count.format(s.subscribers.reading)})`,
    count.format(s.subscribers.stopped),
    count.format(sum(s.subscribers.pruned)),
    money(s.costPerActivePerMonth, 4),
    percent(s.newsInWindowShare, 1),
  ]);
  return `${head}\n${table(columns, rows)}`;
}

/** The whole output: assumptions, then each run. */
export function formatSimulation(context: SimulationContext, results: readonly SimulationResult[]): string {
  return [...describeAssumptions(context), '', ...results.map((r) => formatRun(r)).join('\n\n').split('\n')].join('\n');
}

/** Columns padded to their widest cell: text left, figures right. */
function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
