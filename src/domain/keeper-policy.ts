import { WINDOW_MS, type SubscriptionState } from './conversation.js';
import { windowClosesAt, type TemplateCategory } from './delivery-policy.js';
import { priceOf, type RateCard } from './pricing.js';
import { longestQuietPeriodMs, quietPeriodAt, type QuietHours } from './quiet-hours.js';

/**
 * The window keeper's rules: whether and when to send a contact the "no news yet, do you still
 * want updates?" nudge shortly before their 24-hour customer-service window closes, so that a
 * reply opens a fresh window and the next broadcast can go out as a session message instead of
 * a paid template. Pure: the job gathers the inputs, this decides.
 */

/** `KEEPER_POLICY`: nudge every window, only when it pays for itself, or never. */
export const KEEPER_POLICIES = ['always', 'worth-it', 'off'] as const;
export type KeeperPolicy = (typeof KEEPER_POLICIES)[number];

/**
 * Every reason not to nudge, for records and the `reason` label of the skip metric.
 * - `removed`: the contact was pruned or erased.
 * - `pending-consent` / `unsubscribed`: not subscribed to the topic (yet, or any more).
 * - `suppressed`: the number opted out; never write to it.
 * - `policy-off`: `KEEPER_POLICY=off`.
 * - `no-window`: the contact never wrote, so there is no window to keep open.
 * - `already-nudged`: this window already had its nudge.
 * - `broadcast-carried-buttons`: a session broadcast in this window carried the nudge's buttons,
 *   so the contact already had the chance to reply with one tap.
 * - `window-closed`: the window closed before the nudge could go.
 * - `inside-safety-margin`: the window is still open, but a nudge now would land within
 *   `SEND_SAFETY_MARGIN_MS` of its close (where a session message may already be refused).
 * - `quiet-hours`: the nudge would fall into quiet hours and cannot go before they begin.
 * - `not-worth-it`: `worth-it` policy, and the expected saving is below the nudge's price.
 */
export const NUDGE_SKIP_REASONS = [
  'removed', 'pending-consent', 'unsubscribed', 'suppressed', 'policy-off', 'no-window', 'already-nudged',
  'broadcast-carried-buttons', 'window-closed', 'inside-safety-margin', 'quiet-hours', 'not-worth-it',
] as const;
export type NudgeSkipReason = (typeof NUDGE_SKIP_REASONS)[number];

/**
 * Priors for the `worth-it` estimate when history is missing or short. Each is blended with the
 * observed history by its weight (pseudo-observations), so a little history moves it a little.
 * - `broadcastInWindow` 0.5 weighted as one day of observed window starts: a topic with no
 *   record yet is as likely as not to publish in the next 24 hours.
 * - `replyToNudge` 0.5 weighted as two nudges (one answered, one not; Laplace's rule): a contact
 *   never nudged before is as likely as not to answer.
 */
export const KEEPER_PRIORS = Object.freeze({
  broadcastInWindow: 0.5,
  broadcastWeightMs: 24 * 60 * 60 * 1000,
  replyToNudge: 0.5,
  replyWeight: 2,
});

/** How far back the job should look for a topic's broadcasts and a contact's nudges. */
export const KEEPER_HISTORY_MS = 28 * 24 * 60 * 60 * 1000;

/** Two amounts this close count as equal (the rate card has four decimals). */
const PRICE_EPSILON = 1e-9;

/** The topic's broadcasts in the look-back period: when it started and when each broadcast went out. */
export interface BroadcastHistory {
  readonly since: Date;
  readonly times: readonly Date[];
}

/** The contact's nudges in the look-back period and how many of them they answered. */
export interface NudgeReplyHistory {
  readonly sent: number;
  readonly replied: number;
}

/** What `worth-it` weighs. Only read under that policy; history may be missing (priors apply). */
export interface NudgeEconomics {
  readonly rateCard: RateCard;
  /** The contact's E.164 number: the rate card's prices depend on its country. */
  readonly phone: string | undefined;
  /** The category of the topic's approved template; undefined when the topic has none. */
  readonly templateCategory: TemplateCategory | undefined;
  readonly broadcasts?: BroadcastHistory;
  readonly nudgeReplies?: NudgeReplyHistory;
}

export interface NudgeInput {
  readonly now: Date;
  readonly policy: KeeperPolicy;
  /** The contact's subscription to the topic the nudge is about. */
  readonly subscription: SubscriptionState | undefined;
  readonly contactStatus: 'active' | 'lapsed' | 'removed';
  readonly suppressed: boolean;
  /** The contact's latest inbound message: the window runs 24 h from here and is named by it. */
  readonly lastInboundAt: Date | undefined;
  /**
   * The window (named by its `lastInboundAt`) in which the contact last got the nudge's buttons,
   * from a nudge or from a session broadcast that carried them. A window named later than
   * `lastInboundAt` (a stale read of the contact) also counts as this one.
   */
  readonly lastNudge?: { readonly windowOf: Date; readonly via: 'nudge' | 'broadcast' };
  /** `NUDGE_BEFORE_CLOSE_MS`: how long before the window closes the nudge is meant to go. */
  readonly nudgeBeforeCloseMs: number;
  /** `SEND_SAFETY_MARGIN_MS`: a session message this close to the window's end is not sent. */
  readonly safetyMarginMs: number;
  readonly quietHours: QuietHours | undefined;
  /** `APP_TIMEZONE`: the clock quiet hours are read on. */
  readonly timeZone: string;
  readonly economics: NudgeEconomics;
}

/** The `worth-it` arithmetic behind a decision, for records. Prices in the rate card's currency. */
export interface NudgeEstimate {
  /** P(a broadcast of the topic falls into the next window). */
  readonly pBroadcast: number;
  /** P(the contact replies to the nudge). */
  readonly pReply: number;
  /** The topic's template outside the window; undefined when the topic has none. */
  readonly templatePrice: number | undefined;
  /** A session broadcast inside the window. */
  readonly sessionPrice: number;
  /** The nudge itself: a session message inside the window. */
  readonly nudgePrice: number;
  /** pBroadcast × pReply × (templatePrice − sessionPrice); undefined without a template. */
  readonly saving: number | undefined;
  readonly currency: string;
}

export type NudgeDecision =
  | {
    readonly kind: 'nudge';
    /** When to send: `now` (send at once) or later (send then, after deciding again). */
    readonly at: Date;
    /** The window this nudge belongs to (its `lastInboundAt`): the key of the once-per-window claim. */
    readonly windowOf: Date;
    readonly closesAt: Date;
    /** The nudge was moved earlier to go before quiet hours begin. */
    readonly beforeQuietHours: boolean;
    /** Present under `worth-it`. */
    readonly estimate?: NudgeEstimate;
  }
  | {
    readonly kind: 'skip';
    readonly reason: NudgeSkipReason;
    /** The window skipped, when the contact has one. */
    readonly windowOf?: Date;
    /** Present for `not-worth-it`. */
    readonly estimate?: NudgeEstimate;
  };

/**
 * Whether and when to nudge one contact about one topic, decided at `now`.
 *
 * Timing. The window closes at C = lastInboundAt + 24 h. The nudge is meant for
 * C − nudgeBeforeCloseMs, or now if that has passed. It must go strictly before
 * C − safetyMarginMs (the same boundary as the delivery policy's: at exactly the margin it is
 * not sent). When its time falls into quiet hours it moves to nudgeBeforeCloseMs before they
 * begin (the same lead, so the pacer has the same room), or now if that has passed; if quiet
 * hours have already begun, or the moved time is itself quiet, it is skipped (`quiet-hours`).
 * It never moves to after quiet hours.
 *
 * A nudge decided for later is not a promise: the caller sends when `at` has come, after
 * deciding again with the contact as it is then (a reply moves the window and the nudge with
 * it; the second decision then returns the new, later time).
 *
 * Cost (`worth-it`). Prices come from the rate card for the contact's number at the nudge's
 * time `at` (not `now`: a nudge decided before a rate change but sent after it pays the new
 * rate):
 *
 *     saving = P(broadcast in next window) × P(reply to nudge) × (template price − session price)
 *     nudge when nudge price = 0, or saving ≥ nudge price (ties nudge)
 *
 * where the template is the topic's template outside the window, the session price is a
 * broadcast inside the window (free before the 2026-10-01 period, the utility rate from it),
 * and the nudge is a session message (priced the same way). So under a period where messages
 * inside the window are free, `worth-it` always nudges. A topic without a template always
 * nudges: outside the window its next broadcast could not reach the contact at all.
 * P(broadcast) comes from `broadcastInWindowProbability`, P(reply) from `replyProbability`.
 *
 * Checks run in the order of `NUDGE_SKIP_REASONS` (eligibility, policy, window, quiet hours,
 * cost); the first that fails is the reason.
 */
export function decideNudge(input: NudgeInput): NudgeDecision {
  const { now, lastInboundAt } = input;
  if (input.contactStatus === 'removed') return { kind: 'skip', reason: 'removed' };
  if (input.subscription === 'pending') return { kind: 'skip', reason: 'pending-consent' };
  if (input.subscription !== 'subscribed') return { kind: 'skip', reason: 'unsubscribed' };
  if (input.suppressed) return { kind: 'skip', reason: 'suppressed' };
  if (input.policy === 'off') return { kind: 'skip', reason: 'policy-off' };
  const closesAt = windowClosesAt(lastInboundAt);
  if (!lastInboundAt || !closesAt) return { kind: 'skip', reason: 'no-window' };
  const windowOf = lastInboundAt;
  const skip = (reason: NudgeSkipReason, estimate?: NudgeEstimate): NudgeDecision => ({ kind: 'skip', reason, windowOf, ...(estimate ? { estimate } : {}) });

  if (input.lastNudge && input.lastNudge.windowOf.getTime() >= windowOf.getTime()) {
    return skip(input.lastNudge.via === 'nudge' ? 'already-nudged' : 'broadcast-carried-buttons');
  }
  const close = closesAt.getTime();
  const latest = close - input.safetyMarginMs; // exclusive
  if (now.getTime() >= close) return skip('window-closed');
  if (now.getTime() >= latest) return skip('inside-safety-margin');

  let at = Math.max(close - input.nudgeBeforeCloseMs, now.getTime(), windowOf.getTime());
  if (at >= latest) return skip('inside-safety-margin');
  let beforeQuietHours = false;
  const quiet = quietPeriodAt(input.quietHours, new Date(at), input.timeZone);
  if (quiet) {
    at = Math.max(quiet.start.getTime() - input.nudgeBeforeCloseMs, now.getTime(), windowOf.getTime());
    if (at >= quiet.start.getTime() || quietPeriodAt(input.quietHours, new Date(at), input.timeZone)) return skip('quiet-hours');
    beforeQuietHours = true;
  }

  const nudge = (estimate?: NudgeEstimate): NudgeDecision => ({
    kind: 'nudge', at: new Date(at), windowOf, closesAt, beforeQuietHours, ...(estimate ? { estimate } : {}),
  });
  if (input.policy === 'always') return nudge();
  const estimate = estimateNudge(input.economics, new Date(at), now);
  return isWorthIt(estimate) ? nudge(estimate) : skip('not-worth-it', estimate);
}

/** The `worth-it` rule on an estimate: a free nudge, no template to save on, or saving ≥ price. */
export function isWorthIt(estimate: NudgeEstimate): boolean {
  if (estimate.nudgePrice <= 0 || estimate.saving === undefined) return true;
  return estimate.saving >= estimate.nudgePrice - PRICE_EPSILON;
}

/** The `worth-it` figures for a nudge sent at `at`, with history up to `now`. */
export function estimateNudge(economics: NudgeEconomics, at: Date, now: Date): NudgeEstimate {
  const { rateCard: card, phone, templateCategory } = economics;
  const pBroadcast = broadcastInWindowProbability(economics.broadcasts, now);
  const pReply = replyProbability(economics.nudgeReplies);
  const sessionPrice = priceOf(card, { kind: 'session', inWindow: true, phone, at });
  const nudgePrice = priceOf(card, { kind: 'session', inWindow: true, phone, at });
  const templatePrice = templateCategory === undefined ? undefined : priceOf(card, { kind: 'template', category: templateCategory, inWindow: false, phone, at });
  const saving = templatePrice === undefined ? undefined : pBroadcast * pReply * (templatePrice - sessionPrice);
  return { pBroadcast, pReply, templatePrice, sessionPrice, nudgePrice, saving, currency: card.currency };
}

/**
 * P(at least one broadcast falls into a 24-hour window starting at a random moment), from the
 * topic's history: the share of window starts s in [since, now − 24 h] (windows seen whole)
 * whose window [s, s + 24 h) holds a broadcast, blended with the prior:
 *
 *     (covered + prior × priorWeight) / (observed + priorWeight)
 *
 * This is right for a daily schedule (every window holds one: 1) and for bursts (28 broadcasts
 * on one day of 28 give about 1/27), where a rate alone would say 1 for both. No history, or
 * less than a day of it, gives the prior. Broadcasts outside [since, now) are ignored.
 */
export function broadcastInWindowProbability(history: BroadcastHistory | undefined, now: Date): number {
  const { broadcastInWindow: prior, broadcastWeightMs: weight } = KEEPER_PRIORS;
  if (!history) return prior;
  const from = history.since.getTime();
  const to = now.getTime() - WINDOW_MS; // last window start seen whole
  const observed = Math.max(0, to - from);
  let covered = 0;
  let reach = -Infinity; // end of the covered stretch so far
  const times = history.times.map((d) => d.getTime()).filter((b) => b >= from && b < now.getTime()).sort((a, b) => a - b);
  for (const b of times) {
    // Window starts whose window holds b: (b − 24 h, b], clipped to [from, to].
    const start = Math.max(b - WINDOW_MS, from, reach);
    const end = Math.min(b, to);
    if (end > start) covered += end - start;
    reach = Math.max(reach, end);
  }
  return clamp01((covered + prior * weight) / (observed + weight));
}

/** P(the contact answers a nudge): (replied + prior × weight) / (sent + weight); 0.5 with no history. */
export function replyProbability(history: NudgeReplyHistory | undefined): number {
  const { replyToNudge: prior, replyWeight: weight } = KEEPER_PRIORS;
  const sent = Math.max(0, history?.sent ?? 0);
  const replied = Math.min(sent, Math.max(0, history?.replied ?? 0));
  return clamp01((replied + prior * weight) / (sent + weight));
}

/**
 * How far ahead a keeper pass must look for closing windows so that no nudge is missed before
 * the next pass, `intervalMs` later: a window closing by now + lookahead may need its nudge
 * before the next pass. The nudge goes `nudgeBeforeCloseMs` before the close, or that much
 * before quiet hours that begin up to their longest length before it.
 */
export function nudgeLookaheadMs(options: { intervalMs: number; nudgeBeforeCloseMs: number; quietHours: QuietHours | undefined }): number {
  const { intervalMs, nudgeBeforeCloseMs, quietHours } = options;
  const quiet = longestQuietPeriodMs(quietHours);
  return intervalMs + nudgeBeforeCloseMs + (quiet > 0 ? quiet + nudgeBeforeCloseMs : 0);
}

function clamp01(p: number): number {
  return Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0;
}
