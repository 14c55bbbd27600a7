import { WINDOW_MS } from '../domain/conversation.js';
import { maskPhonesInText } from '../domain/mask-phone.js';
import { pricedNumber, reportedPrice, type RateCard } from '../domain/pricing.js';
import type { Broadcast } from '../store/broadcast-repository.js';
import type { Contact, Subscription } from '../store/contact-repository.js';
import { TERMINAL_STATES, type Delivery, type DeliveryState } from '../store/delivery-repository.js';
import type { BroadcastReport } from './publish.js';

/**
 * The records of an export, one per contact, delivery or broadcast: nested objects for JSON and
 * NDJSON, and the columns CSV flattens them into (`fallzahlen.state` for `topics.fallzahlen.state`).
 * Names are snake_case in every format, so a CSV column and a JSON path read alike.
 */

export type ExportRecord = Record<string, unknown>;

/** How an export names a contact: the contact key, or its keyed pseudonym. */
export interface ContactNaming {
  /** The contact key (E.164, or `user:<BSUID>`) as written. */
  key(key: string): string;
  /** A BSUID as written. */
  bsuid(userId: string): string;
  /** Whether names, message ids and other free text stay out (a pseudonymised export). */
  pseudonymized: boolean;
}

export const plainNaming: ContactNaming = { key: (k) => k, bsuid: (u) => u, pseudonymized: false };

/** Pseudonyms instead of numbers and BSUIDs: a BSUID as the key `user:<BSUID>` of a contact known only by it, so files join. */
export function pseudonymNaming(pseudonymOf: (text: string) => string): ContactNaming {
  return { key: pseudonymOf, bsuid: (userId) => pseudonymOf(`user:${userId}`), pseudonymized: true };
}

const TOPIC_FIELDS = ['state', 'changed_at', 'source', 'reason', 'consent_at', 'consent_source', 'consent_collected_by', 'consent_wording', 'consent_language', 'consent_ref', 'consent_message_id'] as const;

export const CONTACT_COLUMNS = [
  'contact', 'bsuid', 'name', 'language', 'status', 'status_reason', 'lapsed_at', 'created_at', 'last_reply_at', 'window_open_until',
  'sent_since_reply', 'unanswered_templates', 'messages', 'estimated_cost',
] as const;

/** The CSV columns of a contacts export: the contact's, then each topic's. */
export function contactColumns(topics: readonly string[]): string[] {
  return [...CONTACT_COLUMNS, ...topics.flatMap((t) => TOPIC_FIELDS.map((f) => `${t}.${f}`))];
}

function topicRecord(s: Subscription, naming: ContactNaming): ExportRecord {
  const consent = s.consent;
  const imported = consent?.source === 'import' ? consent : undefined;
  const whatsapp = consent && consent.source !== 'import' ? consent : undefined;
  return {
    state: s.state, changed_at: s.changedAt, source: s.source, reason: s.reason,
    consent_at: consent?.at, consent_source: consent?.source, consent_collected_by: imported?.collectedBy,
    consent_wording: consent?.wording, consent_language: consent?.language,
    // A reference of another system may name the person; a wamid encodes the number.
    consent_ref: naming.pseudonymized ? undefined : imported?.ref,
    consent_message_id: naming.pseudonymized ? undefined : whatsapp?.messageId,
  };
}

/** Why a contact is lapsed: the reason pruning gave for the subscription it ended last. */
function statusReason(contact: Contact): string | undefined {
  if (contact.status !== 'lapsed') return undefined;
  const pruned = Object.values(contact.subscriptions).filter((s) => s.source === 'prune' && s.reason).sort((a, b) => b.changedAt.getTime() - a.changedAt.getTime());
  return pruned[0]?.reason;
}

export function contactRecord(contact: Contact, cost: { messages: number; estimatedCost: number }, topics: readonly string[], naming: ContactNaming): ExportRecord {
  const subscriptions: Record<string, ExportRecord> = {};
  for (const topic of topics) {
    const s = contact.subscriptions[topic];
    if (s) subscriptions[topic] = topicRecord(s, naming);
  }
  return {
    contact: naming.key(contact.key),
    bsuid: contact.userId ? naming.bsuid(contact.userId) : undefined,
    name: naming.pseudonymized ? undefined : contact.profileName,
    language: contact.language,
    status: contact.status,
    status_reason: statusReason(contact),
    lapsed_at: contact.lapsedAt,
    created_at: contact.createdAt,
    last_reply_at: contact.lastInboundAt,
    window_open_until: contact.lastInboundAt ? new Date(contact.lastInboundAt.getTime() + WINDOW_MS) : undefined,
    sent_since_reply: contact.sentSinceReply ?? 0,
    unanswered_templates: contact.unansweredTemplates ?? 0,
    messages: cost.messages,
    estimated_cost: round(cost.estimatedCost),
    topics: subscriptions,
  };
}

export const DELIVERY_COLUMNS = [
  'broadcast', 'topic', 'broadcast_created_at', 'contact', 'kind', 'state', 'reason', 'meta_code', 'attempts',
  'estimated_cost', 'reported_price', 'pricing_category', 'billable', 'session_refused', 'resent_unknown',
] as const;

export function deliveryRecord(delivery: Delivery, broadcast: Broadcast, card: RateCard, naming: ContactNaming): ExportRecord {
  const billable = delivery.pricing?.billable;
  return {
    broadcast: broadcast.id,
    topic: broadcast.topic,
    broadcast_created_at: broadcast.createdAt,
    contact: naming.key(delivery.contactKey),
    kind: delivery.kind,
    state: delivery.state,
    reason: delivery.reason !== undefined && naming.pseudonymized ? maskPhonesInText(delivery.reason) : delivery.reason,
    meta_code: delivery.errorCode,
    attempts: delivery.attempts,
    estimated_cost: delivery.state === 'skipped' || delivery.state === 'failed' ? 0 : round(delivery.estimatedCost ?? 0),
    reported_price: billable ? round(reportedPrice(card, delivery.pricing?.category, pricedNumber(delivery.contactKey), broadcast.createdAt)) : 0,
    pricing_category: delivery.pricing?.category,
    billable,
    session_refused: delivery.sessionRefused ?? false,
    resent_unknown: delivery.resentUnknown ?? false,
  };
}

const COUNTED_STATES: readonly DeliveryState[] = ['sending', 'retrying', ...TERMINAL_STATES];

export const BROADCAST_COLUMNS = [
  'broadcast', 'key', 'topic', 'status', 'status_reason', 'created_at', 'batches', 'batches_done',
  'planned_session', 'planned_template', 'planned_skipped', 'planned_cost',
  ...COUNTED_STATES.map((s) => `deliveries.${s}`), 'kinds.session', 'kinds.template', 'reasons',
  'estimated_cost', 'reported_cost', 'billable_messages', 'currency',
] as const;

export function broadcastRecord(broadcast: Broadcast, report: BroadcastReport): ExportRecord {
  return {
    broadcast: report.id,
    key: broadcast.key,
    topic: report.topic,
    status: report.status,
    status_reason: report.statusReason,
    created_at: report.createdAt,
    batches: report.batches.total,
    batches_done: report.batches.done,
    planned_session: report.estimate.session,
    planned_template: report.estimate.template,
    planned_skipped: Object.values(report.estimate.skipped).reduce((a, b) => a + b, 0),
    planned_cost: report.estimate.estimatedCost,
    deliveries: Object.fromEntries(COUNTED_STATES.map((s) => [s, report.deliveries[s] ?? 0])),
    kinds: { session: report.byKind.session ?? 0, template: report.byKind.template ?? 0 },
    reasons: report.reasons,
    estimated_cost: report.cost.estimated,
    reported_cost: report.cost.reported,
    billable_messages: report.cost.billableMessages,
    currency: report.cost.currency,
  };
}

function round(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

/** A value as a CSV cell: dates in ISO 8601, reasons as `reason=n; ...`, nothing as empty. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join('; ');
  return String(value);
}

/** The CSV row of a record for `columns`: `a.b` reads `record.a.b`, `t.f` of a contact reads `record.topics.t.f`. */
export function csvRow(record: ExportRecord, columns: readonly string[]): string[] {
  return columns.map((column) => {
    if (column in record) return cell(record[column]);
    const dot = column.lastIndexOf('.');
    const [head, field] = [column.slice(0, dot), column.slice(dot + 1)];
    const group = (record[head] ?? (record.topics as Record<string, unknown> | undefined)?.[head]) as Record<string, unknown> | undefined;
    return cell(group?.[field]);
  });
}
