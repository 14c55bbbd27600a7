import type { RenderedContent } from '../domain/broadcast-content.js';
import { decideDelivery, type DeliveryDecision } from '../domain/delivery-policy.js';
import { priceOf, type RateCard } from '../domain/pricing.js';
import type { Contact } from '../store/contact-repository.js';
import type { PlanSummary } from '../store/broadcast-repository.js';

export interface PlanSettings {
  safetyMarginMs: number;
  rateCard: RateCard;
}

/** The decision for one contact now, exactly as the fan-out makes it at send time. */
export function decideFor(contact: Contact, topic: string, content: RenderedContent, suppressed: boolean, now: Date, settings: PlanSettings, sessionRefused = false): DeliveryDecision {
  return decideDelivery({
    now,
    subscription: contact.subscriptions[topic]?.state,
    pruned: contact.subscriptions[topic]?.source === 'prune',
    contactStatus: contact.status,
    suppressed,
    addressable: addressOf(contact) !== undefined,
    lastInboundAt: contact.lastInboundAt,
    safetyMarginMs: settings.safetyMarginMs,
    template: content.template ? { category: content.template.category } : undefined,
    marketingOptOut: contact.marketing?.value === 'stop',
    sessionRefused,
  });
}

/**
 * Where a message to the contact goes: the number (as a wa_id) when it is known, else the
 * business-scoped user id (sent as `recipient`); undefined when neither is known.
 */
export function addressOf(contact: Pick<Contact, 'waId' | 'phone' | 'userId'>): string | undefined {
  return contact.waId ?? contact.phone?.replace(/^\+/, '') ?? contact.userId;
}

/** What a decision is expected to cost under the rate card. */
export function costOf(decision: DeliveryDecision, contact: Contact, now: Date, card: RateCard): number {
  if (decision.kind === 'skip') return 0;
  if (decision.kind === 'session') return priceOf(card, { kind: 'session', inWindow: true, phone: contact.phone, at: now });
  return priceOf(card, { kind: 'template', category: decision.category, inWindow: decision.inWindow, phone: contact.phone, at: now });
}

/** Adds contacts' decisions to a running plan summary. */
export function addToPlan(summary: PlanSummary, decision: DeliveryDecision, cost: number): void {
  if (decision.kind === 'skip') summary.skipped[decision.reason] = (summary.skipped[decision.reason] ?? 0) + 1;
  else summary[decision.kind] += 1;
  summary.estimatedCost = Math.round((summary.estimatedCost + cost) * 1e6) / 1e6;
}

export function emptyPlan(currency: string): PlanSummary {
  return { session: 0, template: 0, skipped: {}, estimatedCost: 0, currency };
}
