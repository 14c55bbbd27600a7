import { expect } from 'chai';
import { loadRateCard } from '../../config/broadcasts.js';
import { decideDelivery } from '../../src/domain/delivery-policy.js';
import { decideNudge } from '../../src/domain/keeper-policy.js';
import { priceOf, type RateCard } from '../../src/domain/pricing.js';
import { decidePrune } from '../../src/domain/pruning.js';
import { simulate } from '../../src/domain/simulation/engine.js';
import { EventQueue } from '../../src/domain/simulation/event-queue.js';
import { DEFAULT_POPULATION, type PopulationParams } from '../../src/domain/simulation/population.js';
import { WORKER_RULES, type Strategy } from '../../src/domain/simulation/strategies.js';
import type { SimulatedWorker, SimulationInput, SimulationResult, StrategyResult } from '../../src/domain/simulation/types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DE = '+49000000000';
/** The shipped rate card: +49 inside the window free until 2026-10-01, at the utility rate (0.0456) from then. */
const CARD = loadRateCard('config/rate-card.json');
const UTILITY = 0.0456;

const WORKER: SimulatedWorker = {
  safetyMarginMs: MINUTE, nudgeBeforeCloseMs: 5 * MINUTE, keeperIntervalMs: MINUTE, quietHours: undefined, timeZone: 'Europe/Berlin',
  pruneAfterDays: 30, pruneAfterUnansweredTemplates: 3, pruneIntervalMs: HOUR, sendsPerSecond: 68, broadcastCarriesNudgeButtons: false,
};
/** Nobody leaves: no stops, no silence, no pruning; the same list under every strategy. */
const STAYING: Partial<PopulationParams> = { stopAfterTemplate: 0, stopAfterNudge: 0, silentPerWeek: 0 };
const NO_PRUNING: Partial<SimulatedWorker> = { pruneAfterDays: 0, pruneAfterUnansweredTemplates: 0 };

function input(fields: Partial<Omit<SimulationInput, 'population' | 'worker'>> & { population?: Partial<PopulationParams>; worker?: Partial<SimulatedWorker> } = {}): SimulationInput {
  const { population, worker, ...rest } = fields;
  return {
    start: new Date('2026-09-01T00:00:00Z'), days: 14, subscribers: 200, seed: 7,
    population: { ...DEFAULT_POPULATION, ...population }, publishing: { kind: 'daily', time: { hour: 9, minute: 0 } },
    worker: { ...WORKER, ...worker }, rateCard: CARD, templateCategory: 'UTILITY', phone: DE,
    ...rest,
  };
}

function of(result: SimulationResult, strategy: Strategy): StrategyResult {
  const found = result.strategies.find((s) => s.strategy === strategy);
  if (!found) throw new Error(`no result for ${strategy}`);
  return found;
}

/** What a person compares: messages, cost, who is left, the series, the skips. */
function outcome(s: StrategyResult): unknown {
  return { messages: s.messages, cost: s.cost, subscribers: s.subscribers, news: s.news, series: s.series };
}

describe('policy simulator (src/domain/simulation)', () => {
  it('the same seed gives the same figures; another seed other ones', () => {
    const first = simulate(input());
    expect(simulate(input())).to.deep.equal(first);
    const other = simulate(input({ seed: 8 }));
    expect(other.strategies.map(outcome)).to.not.deep.equal(first.strategies.map(outcome));
  });

  it('one subscriber, daily news, always answering: every news item goes inside the window', () => {
    const result = simulate(input({
      subscribers: 1, days: 10, population: { ...STAYING, replyToNews: 1, joinSpreadHours: 0, replyDelayMinutes: 10 },
      worker: { timeZone: 'UTC', safetyMarginMs: 0 }, strategies: ['off', 'templates-only'],
    }));
    expect(result.broadcasts).to.equal(10);
    const off = of(result, 'off');
    expect(off.messages).to.deep.equal({ session: 10, template: 0, templateInWindow: 0, nudge: 0 });
    expect(off.newsInWindowShare).to.equal(1);
    expect(off.cost.total).to.equal(0); // September 2026: a session message inside the window is free
    const templates = of(result, 'templates-only');
    expect(templates.messages).to.deep.equal({ session: 0, template: 0, templateInWindow: 10, nudge: 0 });
    expect(templates.newsInWindowShare).to.equal(1);
    expect(templates.subscribers.active).to.equal(1);
  });

  it('templates only, nobody answering, pruning off: N subscribers × broadcasts × the template price', () => {
    const result = simulate(input({
      start: new Date('2026-11-01T00:00:00Z'), subscribers: 50, days: 10, population: { ...STAYING, replyToNews: 0 }, worker: NO_PRUNING, strategies: ['templates-only'],
    }));
    const templates = of(result, 'templates-only');
    expect(result.broadcasts).to.equal(10);
    expect(templates.messages.template + templates.messages.templateInWindow).to.equal(500);
    expect(templates.cost.total).to.be.closeTo(500 * UTILITY, 1e-6);
    expect(templates.costPerActivePerMonth).to.be.closeTo((500 * UTILITY * 3) / 50, 1e-6);
  });

  it('in a period where messages inside the window are free, worth-it decides as always does', () => {
    const result = simulate(input({ strategies: ['nudge-always', 'worth-it'] }));
    const [always, worthIt] = [of(result, 'nudge-always'), of(result, 'worth-it')];
    expect(always.messages.nudge).to.be.greaterThan(100);
    expect(outcome(worthIt)).to.deep.equal(outcome(always));
  });

  it('with free nudges, nudging never costs more than templates only', () => {
    for (const seed of [1, 2, 3]) {
      for (const templateCategory of ['UTILITY', 'MARKETING'] as const) {
        // The same list throughout: the cost of reaching the same people.
        const same = simulate(input({ seed, templateCategory, population: STAYING, worker: NO_PRUNING, strategies: ['templates-only', 'nudge-always'] }));
        expect(of(same, 'nudge-always').cost.total, `seed ${seed} ${templateCategory}`).to.be.at.most(of(same, 'templates-only').cost.total);
        // With the defaults (people stop, go silent, get pruned): per subscriber kept.
        const real = simulate(input({ seed, templateCategory, strategies: ['templates-only', 'nudge-always'] }));
        expect(of(real, 'nudge-always').costPerActivePerMonth, `seed ${seed} ${templateCategory}`).to.be.at.most(of(real, 'templates-only').costPerActivePerMonth as number);
      }
    }
  });

  it('with nudges priced above the template saving, worth-it never nudges and never costs more than templates only', () => {
    // A nudge costs 0.05, a template outside the window saves at most 0.06 - 0.05 on a session message.
    const card: RateCard = {
      currency: 'EUR',
      periods: [{ effectiveFrom: new Date('2020-01-01T00:00:00Z'), country: '*', rates: { MARKETING: 0.06, UTILITY: 0.05, AUTHENTICATION: 0.05 }, sessionInWindow: 'utility', utilityTemplateInWindow: 'utility' }],
    };
    for (const seed of [1, 2, 3]) {
      const result = simulate(input({ seed, rateCard: card, templateCategory: 'MARKETING', population: STAYING, worker: NO_PRUNING }));
      const [worthIt, templates, always] = [of(result, 'worth-it'), of(result, 'templates-only'), of(result, 'nudge-always')];
      expect(worthIt.messages.nudge).to.equal(0);
      expect(worthIt.nudgeSkips['not-worth-it']).to.be.greaterThan(0);
      expect(worthIt.cost.total).to.be.at.most(templates.cost.total);
      expect(always.cost.total).to.be.greaterThan(worthIt.cost.total);
    }
  });

  it('runs the worker\'s own decision functions, and follows a change to one of them', () => {
    expect(WORKER_RULES).to.deep.equal({ decideDelivery, decideNudge, decidePrune, priceOf });
    expect(WORKER_RULES.decideDelivery).to.equal(decideDelivery);
    const base = simulate(input({ strategies: ['off', 'nudge-always'] }));
    expect(Object.values(of(base, 'off').subscribers.pruned).reduce((a, b) => a + (b ?? 0), 0)).to.be.greaterThan(0);

    let decided = 0;
    const neverPrune: typeof decidePrune = (i) => {
      decided += 1;
      const d = decidePrune(i);
      return d.kind === 'prune' ? { kind: 'keep', reason: 'within-limits' } : d;
    };
    const kept = simulate(input({ strategies: ['off', 'nudge-always'] }), { rules: { ...WORKER_RULES, decidePrune: neverPrune } });
    expect(decided).to.be.greaterThan(0);
    expect(of(kept, 'off').subscribers.pruned).to.deep.equal({});
    expect(of(kept, 'off').subscribers.active).to.be.greaterThan(of(base, 'off').subscribers.active);

    const noNudges: typeof decideNudge = (i) => ({ kind: 'skip', reason: 'policy-off', ...(i.lastInboundAt ? { windowOf: i.lastInboundAt } : {}) });
    const silent = simulate(input({ strategies: ['nudge-always'] }), { rules: { ...WORKER_RULES, decideNudge: noNudges } });
    expect(of(silent, 'nudge-always').messages.nudge).to.equal(0);

    const sessionsOnlyFree: typeof decideDelivery = (i) => decideDelivery({ ...i, safetyMarginMs: 12 * HOUR });
    const wide = simulate(input({ strategies: ['off'] }), { rules: { ...WORKER_RULES, decideDelivery: sessionsOnlyFree } });
    expect(of(wide, 'off').messages.session).to.be.lessThan(of(base, 'off').messages.session);
  });

  it('prices each message as the rate card\'s period at its time says: a period beginning mid-run changes the cost from then on', () => {
    const first = { effectiveFrom: new Date('2026-01-01T00:00:00Z'), country: '*', rates: { MARKETING: 0.1, UTILITY: 0.02, AUTHENTICATION: 0.02 }, sessionInWindow: 'free', utilityTemplateInWindow: 'free' } as const;
    const oneCard: RateCard = { currency: 'EUR', periods: [first] };
    const changed: RateCard = { currency: 'EUR', periods: [first, { ...first, effectiveFrom: new Date('2026-11-06T00:00:00Z'), rates: { ...first.rates, UTILITY: 0.05 } }] };
    const run = (card: RateCard) => of(simulate(input({
      start: new Date('2026-11-01T00:00:00Z'), subscribers: 40, days: 10, rateCard: card, population: { ...STAYING, replyToNews: 0, joinSpreadHours: 0 },
      worker: NO_PRUNING, strategies: ['templates-only'],
    })), 'templates-only');
    const [before, after] = [run(oneCard), run(changed)];
    // Day 1 was in the window they subscribed with (free); days 2 to 5 at 0.02, 6 to 10 at 0.05.
    expect(before.messages).to.deep.equal(after.messages);
    expect(before.cost.total).to.be.closeTo(40 * 9 * 0.02, 1e-6);
    expect(after.cost.total).to.be.closeTo(40 * 4 * 0.02 + 40 * 5 * 0.05, 1e-6);
    expect(after.series[5]?.cost).to.be.closeTo(40 * 4 * 0.02, 1e-6);
  });

  it('a nudge held by the shared pace past the safety margin is not sent (as the keeper records it)', () => {
    // All 300 subscribed at the same moment: their windows close together, and so their nudges are due together.
    const together = { subscribers: 300, days: 2, population: { ...STAYING, joinSpreadHours: 0, replyToNews: 0, replyToNudge: 0 }, strategies: ['nudge-always'] as Strategy[] };
    const fast = of(simulate(input(together)), 'nudge-always');
    expect(fast.messages.nudge).to.equal(300);
    expect(fast.nudgeSkips).to.deep.equal({});
    // One message every two seconds: 300 nudges would take ten minutes; they start five minutes
    // before the close, and none may go in its last minute.
    const slow = of(simulate(input({ ...together, worker: { sendsPerSecond: 0.5 } })), 'nudge-always');
    expect(slow.messages.nudge).to.equal(120);
    expect(slow.nudgeSkips).to.deep.equal({ 'inside-safety-margin': 180 });
  });

  it('refuses input out of range with a RangeError naming it', () => {
    expect(() => simulate(input({ days: 0 }))).to.throw(RangeError, /days/);
    expect(() => simulate(input({ population: { replyToNews: 1.5 } }))).to.throw(RangeError, /replyToNews/);
    expect(() => simulate(input({ publishing: { kind: 'irregular', meanHours: 0 } }))).to.throw(RangeError, /meanHours/);
  });

  it('the event queue gives events in time order, and events at the same time in the order scheduled', () => {
    const queue = new EventQueue();
    const times = [5, 1, 3, 3, 9, 0, 3, 7, 2, 2];
    times.forEach((t, i) => queue.push(t, 0, i, 0));
    for (let i = 0; i < 3000; i += 1) queue.push(10 + ((i * 7919) % 1000), 1, 100 + i, 0);
    const popped: [number, number][] = [];
    while (queue.pop()) popped.push([queue.time, queue.subject]);
    expect(popped.slice(0, 10)).to.deep.equal([[0, 5], [1, 1], [2, 8], [2, 9], [3, 2], [3, 3], [3, 6], [5, 0], [7, 7], [9, 4]]);
    const rest = popped.slice(10).map(([t]) => t);
    expect(rest).to.deep.equal([...rest].sort((a, b) => a - b));
    expect(popped).to.have.length(3010);
  });
});
