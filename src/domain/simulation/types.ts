import type { SkipReason, TemplateCategory } from '../delivery-policy.js';
import type { KeeperPolicy, NudgeSkipReason } from '../keeper-policy.js';
import type { RateCard } from '../pricing.js';
import type { PruneReason } from '../pruning.js';
import type { QuietHours } from '../quiet-hours.js';
import type { PopulationParams } from './population.js';
import type { PublishingPattern } from './publishing.js';
import type { Strategy } from './strategies.js';

/** The worker's settings the decisions read, as in `Config` (the simulator takes them from it). */
export interface SimulatedWorker {
  /** `SEND_SAFETY_MARGIN_MS`. */
  readonly safetyMarginMs: number;
  /** `NUDGE_BEFORE_CLOSE_MS`. */
  readonly nudgeBeforeCloseMs: number;
  /** `KEEPER_INTERVAL_MS`: the keeper decides at passes this far apart. */
  readonly keeperIntervalMs: number;
  /** `QUIET_HOURS`. */
  readonly quietHours: QuietHours | undefined;
  /** `APP_TIMEZONE`: publishing times and quiet hours are read on its clock. */
  readonly timeZone: string;
  /** `PRUNE_AFTER_DAYS` and `PRUNE_AFTER_UNANSWERED_TEMPLATES` (0: that rule off). */
  readonly pruneAfterDays: number;
  readonly pruneAfterUnansweredTemplates: number;
  /** How often the pruning pass runs (the prune-subscribers job: hourly). */
  readonly pruneIntervalMs: number;
  /** Messages per second the shared pace lets out (`SEND_RATE_MPS` less the pacer's headroom): a broadcast's and the nudges' sends queue for it. */
  readonly sendsPerSecond: number;
  /** The topic's `broadcastCarriesNudgeButtons`: a session broadcast counts as the window's nudge. */
  readonly broadcastCarriesNudgeButtons: boolean;
}

export interface SimulationInput {
  /** The simulated `now` at the start; its rate-card period applies from there on. */
  readonly start: Date;
  readonly days: number;
  readonly subscribers: number;
  readonly seed: number;
  readonly population: PopulationParams;
  readonly publishing: PublishingPattern;
  readonly worker: SimulatedWorker;
  readonly rateCard: RateCard;
  /** The category of the topic's approved template; undefined when it has none. */
  readonly templateCategory: TemplateCategory | undefined;
  /** A number of the subscribers' country (`+49...`): the rate card's prices depend on it. */
  readonly phone: string;
  /** Default: every strategy, in the order of `STRATEGIES`. */
  readonly strategies?: readonly Strategy[];
}

/** Messages sent, by kind; `templateInWindow`: a template to a subscriber whose window was open. */
export interface MessageCounts {
  session: number;
  template: number;
  templateInWindow: number;
  nudge: number;
}

export interface StrategyResult {
  readonly strategy: Strategy;
  readonly label: string;
  readonly keeperPolicy: KeeperPolicy;
  readonly messages: MessageCounts;
  /** In the rate card's currency, by kind and in total. */
  readonly cost: MessageCounts & { total: number };
  readonly news: {
    /** News messages that went out (session or template). */
    readonly delivered: number;
    /** Of those, delivered while the subscriber's window was open (as a session message or a template). */
    readonly inWindow: number;
    /** News not sent, by the delivery decision's reason (`no-template`: a closed window and no template). */
    readonly skipped: Partial<Record<SkipReason, number>>;
  };
  /** inWindow / delivered; null when nothing was delivered. */
  readonly newsInWindowShare: number | null;
  /** Windows the keeper decided not to nudge, by reason (as the worker records them). */
  readonly nudgeSkips: Partial<Record<NudgeSkipReason, number>>;
  readonly subscribers: {
    readonly start: number;
    /** Still subscribed at the end. */
    readonly active: number;
    /** Of those, still reading (not gone silent). */
    readonly reading: number;
    /** Unsubscribed themselves (Stop after a template or a nudge). */
    readonly stopped: number;
    /** Removed by pruning, by reason. */
    readonly pruned: Partial<Record<PruneReason, number>>;
  };
  /** Cost per 30 days divided by the subscribers active at the end; null when none is. */
  readonly costPerActivePerMonth: number | null;
  /** At the start of each day and at the end: subscribers active, and the cost so far. */
  readonly series: readonly { readonly day: number; readonly active: number; readonly cost: number }[];
}

export interface SimulationResult {
  readonly start: string;
  readonly end: string;
  readonly days: number;
  readonly subscribers: number;
  readonly seed: number;
  readonly currency: string;
  /** Broadcasts the topic published within the period. */
  readonly broadcasts: number;
  readonly strategies: readonly StrategyResult[];
}
