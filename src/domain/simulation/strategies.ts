import { decideDelivery } from '../delivery-policy.js';
import { decideNudge, type KeeperPolicy } from '../keeper-policy.js';
import { priceOf } from '../pricing.js';
import { decidePrune } from '../pruning.js';

/**
 * The sending strategies the simulator compares. Each is the worker's own send-time decision
 * (`decideDelivery`) and window keeper (`decideNudge`) under one setting:
 * - `templates-only`: what most broadcast tools do: every news item goes out as the approved
 *   template, also to a subscriber whose window is open (the decision is asked with the session
 *   message refused, so only the template remains), and nobody is nudged.
 * - `nudge-always`: the relief organisation's bot: a session message inside the window, a
 *   nudge before every window closes (`KEEPER_POLICY=always`). Unlike that bot, the worker
 *   sends the template to a subscriber whose window has closed, so nobody misses the news.
 * - `worth-it`: the same, nudging only when the expected saving pays for the nudge
 *   (`KEEPER_POLICY=worth-it`, the worker's default).
 * - `off`: the worker's send-time decision without nudges (`KEEPER_POLICY=off`).
 * Pruning (`decidePrune`) runs under every strategy, as the same worker would run it.
 */
export const STRATEGIES = ['templates-only', 'nudge-always', 'worth-it', 'off'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface StrategyRules {
  /** Whether a session message may go inside the window (false: the template always). */
  readonly sessions: boolean;
  /** The window keeper's policy. */
  readonly keeper: KeeperPolicy;
  /** For tables and the chart. */
  readonly label: string;
}

export const STRATEGY_RULES: Readonly<Record<Strategy, StrategyRules>> = Object.freeze({
  'templates-only': { sessions: false, keeper: 'off', label: 'templates only' },
  'nudge-always': { sessions: true, keeper: 'always', label: 'nudge always (relief bot)' },
  'worth-it': { sessions: true, keeper: 'worth-it', label: 'worth-it' },
  off: { sessions: true, keeper: 'off', label: 'off (no nudges)' },
});

/**
 * The decision functions a simulation runs. The default is the worker's own, imported from
 * `src/domain/`, not copies; a test may pass changed ones to see that the result follows them.
 * (`decideNudge`'s `worth-it` estimate prices with the real `priceOf` in any case.)
 */
export interface SimulationRules {
  readonly decideDelivery: typeof decideDelivery;
  readonly decideNudge: typeof decideNudge;
  readonly decidePrune: typeof decidePrune;
  readonly priceOf: typeof priceOf;
}

export const WORKER_RULES: SimulationRules = Object.freeze({ decideDelivery, decideNudge, decidePrune, priceOf });
