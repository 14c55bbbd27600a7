import { WINDOW_MS } from './conversation.js';

export type TemplateCategory = 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';

/** Why a contact gets nothing; `pruned`: unsubscribed by the pruning pass (they stopped replying), `unsubscribed`: by themselves. */
export type SkipReason =
  | 'unsubscribed'
  | 'pruned'
  | 'pending-consent'
  | 'suppressed'
  | 'removed'
  | 'no-address'
  | 'no-template'
  | 'marketing-opt-out';

export const SKIP_REASONS: readonly SkipReason[] = ['unsubscribed', 'pruned', 'pending-consent', 'suppressed', 'removed', 'no-address', 'no-template', 'marketing-opt-out'];

export interface DeliveryPolicyInput {
  now: Date;
  subscription: 'pending' | 'subscribed' | 'unsubscribed' | undefined;
  /** The subscription was ended by pruning (its source is `prune`). */
  pruned?: boolean;
  contactStatus: 'active' | 'lapsed' | 'removed';
  suppressed: boolean;
  /** Without a wa_id or number there is nobody to send to. */
  addressable: boolean;
  lastInboundAt: Date | undefined;
  /** A window closing within this margin counts as closed. */
  safetyMarginMs: number;
  /** The topic's approved template, if it has one. */
  template: { category: TemplateCategory } | undefined;
  /** The contact told Meta to stop marketing messages. */
  marketingOptOut: boolean;
  /** The session message was refused (131047): only the template remains. */
  sessionRefused?: boolean;
}

export type DeliveryDecision =
  | { kind: 'session'; windowClosesAt: Date }
  | { kind: 'template'; category: TemplateCategory; inWindow: boolean }
  | { kind: 'skip'; reason: SkipReason };

/** When the contact's customer service window closes, or undefined if it never opened. */
export function windowClosesAt(lastInboundAt: Date | undefined): Date | undefined {
  return lastInboundAt ? new Date(lastInboundAt.getTime() + WINDOW_MS) : undefined;
}

/**
 * The cheapest allowed way to deliver a broadcast to one contact, decided at send time:
 * a free session message while the window stays open for longer than the safety margin,
 * else the approved template, else skip with the reason.
 */
export function decideDelivery(input: DeliveryPolicyInput): DeliveryDecision {
  if (input.contactStatus === 'removed') return { kind: 'skip', reason: 'removed' };
  if (input.subscription === 'pending') return { kind: 'skip', reason: 'pending-consent' };
  if (input.subscription !== 'subscribed') return { kind: 'skip', reason: input.subscription === 'unsubscribed' && input.pruned ? 'pruned' : 'unsubscribed' };
  if (input.suppressed) return { kind: 'skip', reason: 'suppressed' };
  if (!input.addressable) return { kind: 'skip', reason: 'no-address' };

  const closes = windowClosesAt(input.lastInboundAt);
  const open = closes !== undefined && closes.getTime() - input.now.getTime() > input.safetyMarginMs;
  if (open && !input.sessionRefused) return { kind: 'session', windowClosesAt: closes };

  if (!input.template) return { kind: 'skip', reason: 'no-template' };
  if (input.template.category === 'MARKETING' && input.marketingOptOut) return { kind: 'skip', reason: 'marketing-opt-out' };
  const inWindow = closes !== undefined && closes.getTime() > input.now.getTime();
  return { kind: 'template', category: input.template.category, inWindow };
}

/** The broadcast sweep's longest interval. */
const SWEEP_EVERY_MS = 15_000;

/**
 * How often the broadcast sweep runs, which ends sends left in flight (their worker died) as
 * `unknown` once they are `unknownAfterMs` old: every 15 s, or every quarter of `unknownAfterMs`
 * when that is shorter, so that such a send ends at most a quarter of that time late; at least
 * a second apart.
 */
export function sweepIntervalMs(unknownAfterMs: number): number {
  return Math.max(1000, Math.min(SWEEP_EVERY_MS, Math.round(unknownAfterMs / 4)));
}
