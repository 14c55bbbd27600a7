import { WINDOW_MS, type SubscriptionState } from './conversation.js';

/**
 * Pruning: subscribers who stopped replying leave a topic's list by themselves, so the list
 * stays made of people who want the updates. Pure: the job gathers the inputs, this decides.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Why a subscriber is removed, for the subscription record and the metric's `reason` label.
 * - `no-reply`: their last reply is older than `PRUNE_AFTER_DAYS`, and something was sent since.
 * - `unanswered-templates`: `PRUNE_AFTER_UNANSWERED_TEMPLATES` paid templates in a row went unanswered.
 */
export const PRUNE_REASONS = ['no-reply', 'unanswered-templates'] as const;
export type PruneReason = (typeof PRUNE_REASONS)[number];

/**
 * Why a contact stays, for dry runs and debugging.
 * - `removed`: already removed. `not-subscribed`: not (or not yet) subscribed to the topic.
 * - `window-open`: they wrote within the last 24 hours.
 * - `never-contacted`: nothing was sent to them since their last reply (no broadcast, no
 *   template, no nudge), so they never had a chance to answer.
 * - `within-limits`: neither limit is reached.
 */
export const PRUNE_KEEP_REASONS = ['removed', 'not-subscribed', 'window-open', 'never-contacted', 'within-limits'] as const;
export type PruneKeepReason = (typeof PRUNE_KEEP_REASONS)[number];

export interface PruneInput {
  readonly now: Date;
  readonly contactStatus: 'active' | 'lapsed' | 'removed';
  /** The contact's subscription to the topic being pruned. */
  readonly subscription: SubscriptionState | undefined;
  /** When that subscription began (its `changedAt` when it became subscribed); counts as a reply. */
  readonly subscribedAt: Date | undefined;
  /** The contact's latest inbound message. */
  readonly lastInboundAt: Date | undefined;
  /** Business messages since the last reply (the contact document's `sentSinceReply`). */
  readonly sentSinceReply: number;
  /** Paid templates in a row without a reply (the contact document's `unansweredTemplates`). */
  readonly unansweredTemplates: number;
  /** A nudge went out after the last reply (whether or not `sentSinceReply` counts nudges). */
  readonly nudgedSinceReply: boolean;
  /** `PRUNE_AFTER_DAYS`; 0 turns the age rule off. */
  readonly afterDays: number;
  /** `PRUNE_AFTER_UNANSWERED_TEMPLATES`; 0 turns the template rule off. */
  readonly afterUnansweredTemplates: number;
}

export type PruneDecision =
  | { readonly kind: 'prune'; readonly reason: PruneReason; readonly at: Date }
  | { readonly kind: 'keep'; readonly reason: PruneKeepReason };

/**
 * Whether to remove a subscriber from a topic's list at `now`.
 *
 * The last reply is the later of `lastInboundAt` and `subscribedAt` (an imported subscriber
 * has only the latter). In order:
 * 1. removed, not subscribed, or a window open (a reply within 24 h): keep.
 * 2. `unansweredTemplates >= afterUnansweredTemplates`: prune, `unanswered-templates`.
 * 3. last reply more than `afterDays` × 24 h ago (exactly that long is not more): prune,
 *    `no-reply`, unless nothing was sent to them since it (`never-contacted`: a subscriber
 *    of a quiet topic, or one without a window who was never nudged or written to, has not
 *    had a chance to reply).
 * 4. keep, `within-limits`.
 */
export function decidePrune(input: PruneInput): PruneDecision {
  const { now } = input;
  if (input.contactStatus === 'removed') return { kind: 'keep', reason: 'removed' };
  if (input.subscription !== 'subscribed') return { kind: 'keep', reason: 'not-subscribed' };
  const lastReply = Math.max(input.lastInboundAt?.getTime() ?? -Infinity, input.subscribedAt?.getTime() ?? -Infinity);
  if (input.lastInboundAt && now.getTime() - input.lastInboundAt.getTime() < WINDOW_MS) return { kind: 'keep', reason: 'window-open' };

  if (input.afterUnansweredTemplates > 0 && input.unansweredTemplates >= input.afterUnansweredTemplates) {
    return { kind: 'prune', reason: 'unanswered-templates', at: now };
  }
  if (input.afterDays > 0 && Number.isFinite(lastReply) && now.getTime() - lastReply > input.afterDays * DAY_MS) {
    const contacted = input.sentSinceReply > 0 || input.unansweredTemplates > 0 || input.nudgedSinceReply;
    return contacted ? { kind: 'prune', reason: 'no-reply', at: now } : { kind: 'keep', reason: 'never-contacted' };
  }
  return { kind: 'keep', reason: 'within-limits' };
}
