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

/** A broadcast's progress and totals as lines for a person. */
export function formatReport(report: BroadcastReport): string {
  const lines = [
    `broadcast ${report.id} (topic ${report.topic}, created ${report.createdAt})`,
    `  ${pad('status:')}${report.status}${report.statusReason ? ` (${report.statusReason})` : ''}`,
    `  ${pad('batches done:')}${report.batches.done} of ${report.batches.total}`,
    ...Object.entries(report.deliveries).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `  ${pad(`${state}:`)}${n}`),
    ...Object.entries(report.reasons).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `    ${pad(reason, 32)}${n}`),
    `  ${pad('estimated at publish:')}${money(report.estimate.estimatedCost, report.cost.currency)}`,
    `  ${pad('estimated for what was sent:')}${money(report.cost.estimated, report.cost.currency)}`,
    `  ${pad('reported by Meta (billable):')}${money(report.cost.reported, report.cost.currency)} (${report.cost.billableMessages} messages)`,
  ];
  return lines.join('\n');
}
