import { KEEPER_HISTORY_MS } from '../keeper-policy.js';
import { drawPopulation, POPULATION_LIMITS, STREAM, type PopulationParams } from './population.js';
import { publishTimes } from './publishing.js';
import { SimulationRandom, streamSeed } from './random.js';
import { STRATEGIES, WORKER_RULES, type SimulationRules } from './strategies.js';
import { StrategyRun, type SharedRun } from './strategy-run.js';
import type { SimulationInput, SimulationResult, StrategyResult } from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface SimulationOptions {
  /** The decision functions; default the worker's own (`WORKER_RULES`). */
  readonly rules?: SimulationRules;
  /** Told now and then how far the run is: `done` of `total` (strategies, in fractions). */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Simulates the topic over `days` from `start` under each strategy, with the same population,
 * the same publishing times and the same random streams (one per subscriber), so that the
 * strategies differ only by what they decide. Deterministic: the same input gives the same result.
 *
 * The population subscribed within `joinSpreadHours` before the start (each one's Yes opened
 * their window); the topic has published by its pattern for KEEPER_HISTORY_MS before it, so the
 * keeper's `worth-it` estimate has the history a running topic would have. Nobody has been
 * nudged yet (the priors apply).
 * @throws RangeError naming the input that is out of range.
 */
export function simulate(input: SimulationInput, options: SimulationOptions = {}): SimulationResult {
  checkInput(input);
  const start = input.start.getTime();
  const end = start + input.days * DAY_MS;
  const strategies = input.strategies ?? STRATEGIES;
  const publishing = publishTimes(input.publishing, start - KEEPER_HISTORY_MS, end, input.worker.timeZone, new SimulationRandom(streamSeed(input.seed, STREAM.publishing, 0)));
  const population = drawPopulation(input.subscribers, input.population, start, input.seed);
  const results: StrategyResult[] = [];
  let broadcasts = 0;
  strategies.forEach((strategy, index) => {
    const shared: SharedRun = {
      input, rules: options.rules ?? WORKER_RULES, start, end, population, publishTimes: publishing,
      ...(options.onProgress ? { onEvents: (time: number) => options.onProgress?.(index + (time - start) / (end - start), strategies.length) } : {}),
    };
    const run = new StrategyRun(shared, strategy);
    results.push(run.run());
    broadcasts = run.broadcasts;
    options.onProgress?.(index + 1, strategies.length);
  });
  return {
    start: input.start.toISOString(),
    end: new Date(end).toISOString(),
    days: input.days,
    subscribers: input.subscribers,
    seed: input.seed,
    currency: input.rateCard.currency,
    broadcasts,
    strategies: results,
  };
}

function checkInput(input: SimulationInput): void {
  const fail = (what: string, expected: string) => {
    throw new RangeError(`${what}: expected ${expected}`);
  };
  if (!Number.isFinite(input.start.getTime())) fail('start', 'a valid date');
  if (!Number.isInteger(input.days) || input.days < 1 || input.days > 3650) fail('days', 'a whole number from 1 to 3650');
  if (!Number.isInteger(input.subscribers) || input.subscribers < 1 || input.subscribers > 10_000_000) fail('subscribers', 'a whole number from 1 to 10000000');
  if (!Number.isInteger(input.seed)) fail('seed', 'a whole number');
  for (const [name, [low, high]] of Object.entries(POPULATION_LIMITS) as [keyof PopulationParams, readonly [number, number]][]) {
    const value = input.population[name];
    if (!(value >= low && value <= high)) fail(name, `a number from ${low} to ${high}`);
  }
  if (input.publishing.kind === 'irregular' && !(input.publishing.meanHours >= 0.1)) fail('meanHours', 'at least 0.1 hours between broadcasts');
  const w = input.worker;
  if (!(w.sendsPerSecond > 0)) fail('sendsPerSecond', 'more than 0');
  if (!(w.keeperIntervalMs > 0)) fail('keeperIntervalMs', 'more than 0');
  if (!(w.pruneIntervalMs > 0)) fail('pruneIntervalMs', 'more than 0');
}
