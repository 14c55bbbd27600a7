import type { PlanSummary } from '../store/broadcast-repository.js';
import type { BroadcastReport, PreparedBroadcast } from './publish.js';

const pad = (label: string, width = 38) => `${label} `.padEnd(width);

function money(amount: number, currency: string): string {
  return `${amount.toFixed(2)} ${currency}`;
}

/** The plan as lines for a person. */
export function formatPlan(prepared: PreparedBroadcast, plan: PlanSummary, heading: string): string {
  const skipped = Object.values(plan.skipped).reduce((a, b) => a + b, 0);
  const template = prepared.content.template;
  const lines = [
    heading,
    `  ${pad('session messages (window open):')}${plan.session}`,
    `  ${pad(`templates${template ? ` (${template.name}, ${template.category})` : ''}:`)}${plan.template}`,
    `  ${pad('skipped:')}${skipped}`,
    ...Object.entries(plan.skipped).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `    ${pad(reason, 32)}${n}`),
    `  ${pad('estimated cost:')}${money(plan.estimatedCost, plan.currency)}`,
  ];
  return lines.join('\n');
}

function duration(ms: number): string {
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 360_000) / 10} h`;
}

/** The status in words: `done` alone hid the messages still waiting for their delivery report. */
export function describeStatus(report: BroadcastReport): string {
  const { progress } = report;
  const reason = report.statusReason ? ` (${report.statusReason})` : '';
  if (!progress.sendingFinished) return `${report.status}${reason}`;
  if (progress.awaitingReport === 0) return `done: sending finished, every delivery has its final state`;
  const waiting = progress.awaitingReport - progress.overdueReport;
  return waiting > 0
    ? `done sending, not settled: ${waiting} sent messages still wait for a delivery report`
    : `done: sending finished, ${progress.overdueReport} sent messages had no delivery report within ${duration(progress.reportWaitMs)}`;
}

/** Whether the broadcast is settled, and why not, in words. */
export function describeSettled(report: BroadcastReport, now: Date): string {
  const { progress } = report;
  if (!progress.sendingFinished) return `no: ${report.status === 'paused' || report.status === 'failed' ? `the broadcast is ${report.status}` : 'still sending'}`;
  const waiting = progress.awaitingReport - progress.overdueReport;
  const oldest = progress.oldestAwaitingSince ? ` (the oldest sent ${duration(now.getTime() - Date.parse(progress.oldestAwaitingSince))} ago)` : '';
  if (waiting > 0) return `no: ${waiting} of ${progress.awaitingReport} sent messages have no delivery report yet${oldest}; settled once each has one or has waited ${duration(progress.reportWaitMs)}`;
  if (progress.overdueReport > 0) return `yes; ${progress.overdueReport} sent messages have had no delivery report for more than ${duration(progress.reportWaitMs)} (phone off or offline: a late report still counts here)`;
  return 'yes';
}

/** A broadcast's progress and totals as lines for a person. */
export function formatReport(report: BroadcastReport, now: Date): string {
  const { progress } = report;
  const lines = [
    `broadcast ${report.id} (topic ${report.topic}, created ${report.createdAt})`,
    `  ${pad('status:')}${describeStatus(report)}`,
    `  ${pad('settled:')}${describeSettled(report, now)}`,
    `  ${pad('batches done:')}${report.batches.done} of ${report.batches.total}`,
    ...Object.entries(report.deliveries).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `  ${pad(`${state === 'sent' ? 'sent (no delivery report yet)' : state}:`)}${n}`),
    ...Object.entries(report.reasons).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `    ${pad(reason, 32)}${n}`),
    ...(progress.resendableUnknown > 0 ? [`  ${pad('unknown, can be resent:')}${progress.resendableUnknown} (npm run publish -- --resend-unknown ${report.id})`] : []),
    ...(progress.resentUnknown > 0 ? [`  ${pad('resent after unknown:')}${progress.resentUnknown}`] : []),
    `  ${pad('estimated at publish:')}${money(report.estimate.estimatedCost, report.cost.currency)}`,
    `  ${pad('estimated for what was sent:')}${money(report.cost.estimated, report.cost.currency)}`,
    `  ${pad('reported by Meta (billable):')}${money(report.cost.reported, report.cost.currency)} (${report.cost.billableMessages} messages)`,
  ];
  return lines.join('\n');
}

/** How many deliveries a broadcast has in all, and how many are final (for a progress bar). */
export function progressFigures(report: BroadcastReport): { final: number; total: number } {
  const count = (state: string) => report.deliveries[state] ?? 0;
  const recorded = Object.values(report.deliveries).reduce((a, b) => a + b, 0);
  // Contacts pruned before the broadcast are counted in its plan but get no delivery record.
  const planned = report.estimate.session + report.estimate.template + Object.values(report.estimate.skipped).reduce((a, b) => a + b, 0) - (report.estimate.skipped.pruned ?? 0);
  const final = count('delivered') + count('read') + count('failed') + count('skipped') + count('unknown') + report.progress.overdueReport;
  return { final, total: Math.max(recorded, planned, final) };
}

/** What a watch shows beside its figures: the deliveries per state and the status. */
export function progressDetail(report: BroadcastReport): string {
  const states = ['sending', 'retrying', 'sent', 'delivered', 'read', 'failed', 'skipped', 'unknown'].filter((s) => (report.deliveries[s] ?? 0) > 0).map((s) => `${s} ${report.deliveries[s]}`);
  return `final (${states.join(', ') || 'no deliveries yet'}); ${describeStatus(report)}`;
}
