import { SimulationRandom, streamSeed } from './random.js';

/**
 * How the simulated subscribers behave. Each is an assumption with a default, to be replaced
 * by what an operator knows of their own list (a flag each; `--from-history` measures the reply
 * rates and the delay from the database). Shares are in [0, 1].
 */
export interface PopulationParams {
  /** Mean share of nudges a subscriber answers (Keep, or any message) while still reading. */
  readonly replyToNudge: number;
  /** Mean share of news messages (session or template) a subscriber answers while still reading. */
  readonly replyToNews: number;
  /**
   * How alike subscribers are: each one's own reply rates are drawn from a Beta distribution
   * with the mean above and this concentration (α + β). Small: some always answer and others
   * never; large: everyone answers at the mean rate.
   */
  readonly replyConcentration: number;
  /** Share of the subscribers still reading who go silent each week: they stop reading and answering, but never unsubscribe. */
  readonly silentPerWeek: number;
  /** Share who write STOP after a template that reaches them outside their window (a business-initiated, paid message). */
  readonly stopAfterTemplate: number;
  /** Share who tap Stop on a nudge. */
  readonly stopAfterNudge: number;
  /** Mean minutes from a message to the answer (exponentially distributed). */
  readonly replyDelayMinutes: number;
  /** Subscribers said Yes at random moments within this many hours before the start: their windows are open then, spread over a day. */
  readonly joinSpreadHours: number;
}

/**
 * Defaults: a news list most people read without answering, and a one-tap "still want updates?"
 * that most of them do answer; a template out of the blue annoys a few more than a nudge does.
 * Assumptions for a first look, not measurements.
 */
export const DEFAULT_POPULATION: PopulationParams = Object.freeze({
  replyToNudge: 0.8,
  replyToNews: 0.2,
  replyConcentration: 4,
  silentPerWeek: 0.02,
  stopAfterTemplate: 0.01,
  stopAfterNudge: 0.005,
  replyDelayMinutes: 15,
  joinSpreadHours: 24,
});

/** What each parameter may be, for checking flags: [lowest, highest], both allowed. */
export const POPULATION_LIMITS: Readonly<Record<keyof PopulationParams, readonly [number, number]>> = Object.freeze({
  replyToNudge: [0, 1],
  replyToNews: [0, 1],
  replyConcentration: [0.01, 1e6],
  silentPerWeek: [0, 1],
  stopAfterTemplate: [0, 1],
  stopAfterNudge: [0, 1],
  replyDelayMinutes: [0, 24 * 60],
  joinSpreadHours: [0, 24],
});

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
/** Stream numbers of `streamSeed`: one purpose each. */
export const STREAM = Object.freeze({ population: 1, publishing: 2, behaviour: 3 });

/** The fixed traits of the population, the same under every strategy. */
export interface Population {
  readonly size: number;
  /** Each subscriber's own share of nudges and of news they answer. */
  readonly replyToNudge: Float64Array;
  readonly replyToNews: Float64Array;
  /** When each one goes silent (Infinity: not within any horizon). */
  readonly silentAt: Float64Array;
  /** When each one said Yes: their subscription and their first window. */
  readonly joinedAt: Float64Array;
}

/** Draws the population for a run from its seed. */
export function drawPopulation(size: number, params: PopulationParams, start: number, seed: number): Population {
  const random = new SimulationRandom(streamSeed(seed, STREAM.population, 0));
  const population: Population = {
    size,
    replyToNudge: new Float64Array(size),
    replyToNews: new Float64Array(size),
    silentAt: new Float64Array(size),
    joinedAt: new Float64Array(size),
  };
  // A weekly share s is a constant hazard of -ln(1 - s) per week.
  const hazard = params.silentPerWeek >= 1 ? Infinity : -Math.log(1 - params.silentPerWeek) / WEEK_MS;
  for (let i = 0; i < size; i += 1) {
    population.replyToNudge[i] = random.beta(params.replyToNudge, params.replyConcentration);
    population.replyToNews[i] = random.beta(params.replyToNews, params.replyConcentration);
    population.joinedAt[i] = start - random.next() * params.joinSpreadHours * HOUR_MS;
    population.silentAt[i] = hazard === Infinity ? start : hazard <= 0 ? Infinity : start + random.exponential(1 / hazard);
  }
  return population;
}
