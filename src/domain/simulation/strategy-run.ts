import { WINDOW_MS } from '../conversation.js';
import type { SkipReason } from '../delivery-policy.js';
import { KEEPER_HISTORY_MS, nudgeLookaheadMs, type KeeperPolicy, type NudgeSkipReason } from '../keeper-policy.js';
import type { PruneReason } from '../pruning.js';
import { EventQueue } from './event-queue.js';
import { STREAM, type Population } from './population.js';
import { PriceBook } from './price-book.js';
import { SimulationRandom, streamSeed } from './random.js';
import { STRATEGY_RULES, type SimulationRules, type Strategy } from './strategies.js';
import type { MessageCounts, SimulationInput, StrategyResult } from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60_000;
const MONTH_DAYS = 30;

// Event types.
const PUBLISH = 0;
const SEND = 1;
const KEEPER = 2;
const NUDGE = 3;
const REPLY = 4;
const STOP = 5;
const PRUNE = 6;
const SAMPLE = 7;

// Subscription states.
const SUBSCRIBED = 0;
const STOPPED = 1;
const PRUNED = 2;

/** Skip reasons the keeper records once per window (the others record nothing), as in the worker. */
const RECORDED_SKIPS: ReadonlySet<NudgeSkipReason> = new Set(['window-closed', 'inside-safety-margin', 'quiet-hours', 'not-worth-it']);

/** What the strategies of one run share: the population and when the topic publishes. */
export interface SharedRun {
  readonly input: SimulationInput;
  readonly rules: SimulationRules;
  readonly start: number;
  readonly end: number;
  readonly population: Population;
  /** Publishing times from KEEPER_HISTORY_MS before the start to the end (the earlier ones are the keeper's history). */
  readonly publishTimes: readonly number[];
  readonly onEvents?: (time: number) => void;
}

/**
 * One strategy over the whole period: the events in time order (publishing, each send at its
 * slot of the shared pace, keeper passes, nudges, replies, stops, pruning passes), each
 * subscriber decided by the worker's rules as the worker would decide them at that moment.
 */
export class StrategyRun {
  readonly #shared: SharedRun;
  readonly #strategy: Strategy;
  readonly #sessions: boolean;
  readonly #policy: KeeperPolicy;
  readonly #queue = new EventQueue();
  readonly #n: number;
  readonly #status: Uint8Array;
  readonly #lastInbound: Float64Array;
  readonly #sentSinceReply: Int32Array;
  readonly #unanswered: Int32Array;
  /** The window of the latest nudge record (a nudge, a recorded skip or a carrying broadcast), and whether a broadcast carried it. */
  readonly #nudgeWindow: Float64Array;
  readonly #nudgeCarried: Uint8Array;
  readonly #nudgeSentAt: Float64Array;
  /** Per subscriber, the nudges sent (times) and whether each was answered, for `worth-it`. */
  readonly #nudgeLog: { sent: number[]; replied: number[]; open: number }[];
  readonly #random: SimulationRandom[];
  readonly #slotMs: number;
  #paceFree = -Infinity;
  readonly #horizon: number;
  readonly #publishDates: Date[];
  readonly #prices: PriceBook;
  #historyCache: { now: number; value: { since: Date; times: Date[] } } | undefined;

  readonly #messages: MessageCounts = { session: 0, template: 0, templateInWindow: 0, nudge: 0 };
  readonly #cost: MessageCounts = { session: 0, template: 0, templateInWindow: 0, nudge: 0 };
  #delivered = 0;
  #inWindow = 0;
  readonly #newsSkipped: Partial<Record<SkipReason, number>> = {};
  readonly #nudgeSkips: Partial<Record<NudgeSkipReason, number>> = {};
  readonly #pruned: Partial<Record<PruneReason, number>> = {};
  #active: number;
  #stopped = 0;
  #broadcasts = 0;
  readonly #series: { day: number; active: number; cost: number }[] = [];

  constructor(shared: SharedRun, strategy: Strategy) {
    this.#shared = shared;
    this.#strategy = strategy;
    this.#sessions = STRATEGY_RULES[strategy].sessions;
    this.#policy = STRATEGY_RULES[strategy].keeper;
    const { population, input } = shared;
    const n = population.size;
    this.#n = n;
    this.#active = n;
    this.#status = new Uint8Array(n);
    this.#lastInbound = Float64Array.from(population.joinedAt);
    this.#sentSinceReply = new Int32Array(n);
    this.#unanswered = new Int32Array(n);
    this.#nudgeWindow = new Float64Array(n).fill(-Infinity);
    this.#nudgeCarried = new Uint8Array(n);
    this.#nudgeSentAt = new Float64Array(n).fill(-Infinity);
    this.#nudgeLog = this.#policy === 'worth-it' ? Array.from({ length: n }, () => ({ sent: [], replied: [], open: 0 })) : [];
    this.#random = Array.from({ length: n }, (_, i) => new SimulationRandom(streamSeed(input.seed, STREAM.behaviour, i)));
    this.#slotMs = 1000 / input.worker.sendsPerSecond;
    this.#horizon = nudgeLookaheadMs({ intervalMs: input.worker.keeperIntervalMs, nudgeBeforeCloseMs: input.worker.nudgeBeforeCloseMs, quietHours: input.worker.quietHours });
    this.#publishDates = shared.publishTimes.map((t) => new Date(t));
    this.#prices = new PriceBook(shared.rules.priceOf, input.rateCard, input.phone);
  }

  run(): StrategyResult {
    const { start, end, publishTimes, input, onEvents } = this.#shared;
    const queue = this.#queue;
    for (const t of publishTimes) if (t >= start) queue.push(t, PUBLISH, 0, t);
    if (this.#keeps()) for (let i = 0; i < this.#n; i += 1) this.#scheduleKeeper(i, start);
    if (input.worker.pruneAfterDays > 0 || input.worker.pruneAfterUnansweredTemplates > 0) queue.push(start, PRUNE, 0, 0);
    queue.push(start, SAMPLE, 0, 0);
    let events = 0;
    while (queue.peekTime() < end && queue.pop()) {
      const { time, subject, value } = queue;
      switch (queue.type) {
        case PUBLISH: this.#publish(time); break;
        case SEND: this.#send(time, subject, value); break;
        case KEEPER: this.#keeperPass(time, subject, value); break;
        case NUDGE: this.#nudge(time, subject, value); break;
        case REPLY: this.#reply(time, subject); break;
        case STOP: this.#stop(subject); break;
        case PRUNE: this.#prunePass(time); break;
        case SAMPLE: this.#sample(subject); break;
      }
      if (++events % 65_536 === 0) onEvents?.(time);
    }
    this.#sample(input.days);
    return this.#result();
  }

  #keeps(): boolean {
    return this.#policy !== 'off';
  }

  #reading(i: number, t: number): boolean {
    return t < (this.#shared.population.silentAt[i] as number);
  }

  /** The next free slot of the shared pace at or after `t`, taken. */
  #slot(t: number): number {
    const slot = Math.max(t, this.#paceFree);
    this.#paceFree = slot + this.#slotMs;
    return slot;
  }

  #nextSubscribed(from: number): number {
    let i = from;
    while (i < this.#n && this.#status[i] !== SUBSCRIBED) i += 1;
    return i;
  }

  /** A broadcast: its sends go out in key order (here: subscriber order), one slot each. */
  #publish(t: number): void {
    this.#broadcasts += 1;
    const first = this.#nextSubscribed(0);
    if (first < this.#n) this.#queue.push(this.#slot(t), SEND, first, t);
  }

  #send(t: number, i: number, broadcastAt: number): void {
    if (this.#status[i] === SUBSCRIBED) this.#deliver(i, t);
    const next = this.#nextSubscribed(i + 1);
    if (next < this.#n) this.#queue.push(this.#slot(t), SEND, next, broadcastAt);
  }

  #deliver(i: number, t: number): void {
    const { input, rules } = this.#shared;
    const lastInbound = this.#lastInbound[i] as number;
    const at = new Date(t);
    const decision = rules.decideDelivery({
      now: at, subscription: 'subscribed', contactStatus: 'active', suppressed: false, addressable: true,
      lastInboundAt: new Date(lastInbound), safetyMarginMs: input.worker.safetyMarginMs,
      template: input.templateCategory ? { category: input.templateCategory } : undefined,
      marketingOptOut: false, sessionRefused: !this.#sessions,
    });
    if (decision.kind === 'skip') {
      this.#newsSkipped[decision.reason] = (this.#newsSkipped[decision.reason] ?? 0) + 1;
      return;
    }
    this.#delivered += 1;
    this.#sentSinceReply[i] = (this.#sentSinceReply[i] as number) + 1;
    if (decision.kind === 'session') {
      this.#count('session', this.#prices.session(t));
      this.#inWindow += 1;
      // The news carried Keep / Stop: that window needs no nudge (unless it had its record already).
      if (input.worker.broadcastCarriesNudgeButtons && (this.#nudgeWindow[i] as number) < lastInbound) {
        this.#nudgeWindow[i] = lastInbound;
        this.#nudgeCarried[i] = 1;
      }
      this.#reactToNews(i, t, false);
      return;
    }
    this.#count(decision.inWindow ? 'templateInWindow' : 'template', this.#prices.template(decision.category, decision.inWindow, t));
    if (decision.inWindow) this.#inWindow += 1;
    this.#unanswered[i] = (this.#unanswered[i] as number) + 1;
    this.#reactToNews(i, t, !decision.inWindow);
  }

  #count(kind: keyof MessageCounts, price: number): void {
    this.#messages[kind] += 1;
    this.#cost[kind] += price;
  }

  #reactToNews(i: number, t: number, outsideWindow: boolean): void {
    if (!this.#reading(i, t)) return;
    const { population, input } = this.#shared;
    const random = this.#random[i] as SimulationRandom;
    if (outsideWindow && random.chance(input.population.stopAfterTemplate)) this.#queue.push(t + this.#delay(random), STOP, i, 0);
    else if (random.chance(population.replyToNews[i] as number)) this.#queue.push(t + this.#delay(random), REPLY, i, 0);
  }

  /** How long a subscriber takes to answer. */
  #delay(random: SimulationRandom): number {
    return random.exponential(this.#shared.input.population.replyDelayMinutes * MINUTE_MS);
  }

  /** The first keeper pass that finds this window among those closing within its horizon. */
  #scheduleKeeper(i: number, now: number): void {
    const { keeperIntervalMs: interval, safetyMarginMs } = this.#shared.input.worker;
    const window = this.#lastInbound[i] as number;
    const close = window + WINDOW_MS;
    const pass = Math.ceil(Math.max(close - this.#horizon, now) / interval) * interval;
    if (pass < close - safetyMarginMs) this.#queue.push(pass, KEEPER, i, window);
  }

  #keeperPass(t: number, i: number, window: number): void {
    if (this.#status[i] !== SUBSCRIBED || this.#lastInbound[i] !== window) return; // they wrote since: a new window
    const { input, rules } = this.#shared;
    const { worker } = input;
    const nudgeWindow = this.#nudgeWindow[i] as number;
    const decision = rules.decideNudge({
      now: new Date(t), policy: this.#policy, subscription: 'subscribed', contactStatus: 'active', suppressed: false,
      lastInboundAt: new Date(window),
      lastNudge: nudgeWindow > -Infinity ? { windowOf: new Date(nudgeWindow), via: this.#nudgeCarried[i] ? 'broadcast' : 'nudge' } : undefined,
      nudgeBeforeCloseMs: worker.nudgeBeforeCloseMs, safetyMarginMs: worker.safetyMarginMs, quietHours: worker.quietHours, timeZone: worker.timeZone,
      economics: {
        rateCard: input.rateCard, phone: input.phone, templateCategory: input.templateCategory,
        broadcasts: this.#broadcastHistory(t), nudgeReplies: this.#replyHistory(i, t),
      },
    });
    if (decision.kind === 'skip') {
      if (RECORDED_SKIPS.has(decision.reason)) this.#recordSkip(i, window, decision.reason);
      return;
    }
    const at = decision.at.getTime();
    // Due later: the pass at or after that time decides again and sends.
    if (at > t) this.#queue.push(Math.ceil(at / worker.keeperIntervalMs) * worker.keeperIntervalMs, KEEPER, i, window);
    else this.#queue.push(this.#slot(t), NUDGE, i, window);
  }

  #recordSkip(i: number, window: number, reason: NudgeSkipReason): void {
    this.#nudgeSkips[reason] = (this.#nudgeSkips[reason] ?? 0) + 1;
    this.#nudgeWindow[i] = Math.max(this.#nudgeWindow[i] as number, window);
    this.#nudgeCarried[i] = 0;
  }

  /** The nudge at its slot of the pace: never inside the safety margin (checked again, as the keeper does). */
  #nudge(t: number, i: number, window: number): void {
    if (this.#status[i] !== SUBSCRIBED) return;
    const { input, population } = this.#shared;
    if (t >= window + WINDOW_MS - input.worker.safetyMarginMs) {
      this.#recordSkip(i, window, 'inside-safety-margin');
      return;
    }
    this.#nudgeWindow[i] = window;
    this.#nudgeCarried[i] = 0;
    this.#nudgeSentAt[i] = t;
    this.#count('nudge', this.#prices.session(t));
    const log = this.#nudgeLog[i];
    if (log) {
      log.sent.push(t);
      log.replied.push(0);
    }
    if (!this.#reading(i, t)) return;
    const random = this.#random[i] as SimulationRandom;
    if (random.chance(input.population.stopAfterNudge)) this.#queue.push(t + this.#delay(random), STOP, i, 0);
    else if (random.chance(population.replyToNudge[i] as number)) this.#queue.push(t + this.#delay(random), REPLY, i, 0);
  }

  /** An inbound message: the window moves, the counters reset, the nudges sent before it count as answered. */
  #reply(t: number, i: number): void {
    if (this.#status[i] !== SUBSCRIBED) return;
    if (t > (this.#lastInbound[i] as number)) this.#lastInbound[i] = t;
    this.#sentSinceReply[i] = 0;
    this.#unanswered[i] = 0;
    const log = this.#nudgeLog[i];
    if (log) {
      while (log.open < log.sent.length && (log.sent[log.open] as number) <= t) log.replied[log.open++] = 1;
    }
    if (this.#keeps()) this.#scheduleKeeper(i, t);
  }

  #stop(i: number): void {
    if (this.#status[i] !== SUBSCRIBED) return;
    this.#status[i] = STOPPED;
    this.#stopped += 1;
    this.#active -= 1;
  }

  /** The pruning pass: the candidates of the worker's indexed query, each decided by `decidePrune`. */
  #prunePass(t: number): void {
    const { input, rules, population } = this.#shared;
    const { pruneAfterDays: afterDays, pruneAfterUnansweredTemplates: afterTemplates, pruneIntervalMs } = input.worker;
    const repliedBefore = afterDays > 0 ? t - afterDays * DAY_MS : -Infinity;
    const now = new Date(t);
    for (let i = 0; i < this.#n; i += 1) {
      if (this.#status[i] !== SUBSCRIBED) continue;
      const joined = population.joinedAt[i] as number;
      const lastReply = Math.max(this.#lastInbound[i] as number, joined);
      const unanswered = this.#unanswered[i] as number;
      if (!(lastReply < repliedBefore || (afterTemplates > 0 && unanswered >= afterTemplates))) continue;
      const decision = rules.decidePrune({
        now, contactStatus: 'active', subscription: 'subscribed', subscribedAt: new Date(joined), lastInboundAt: new Date(this.#lastInbound[i] as number),
        sentSinceReply: this.#sentSinceReply[i] as number, unansweredTemplates: unanswered, nudgedSinceReply: (this.#nudgeSentAt[i] as number) > lastReply,
        afterDays, afterUnansweredTemplates: afterTemplates,
      });
      if (decision.kind !== 'prune') continue;
      this.#status[i] = PRUNED;
      this.#pruned[decision.reason] = (this.#pruned[decision.reason] ?? 0) + 1;
      this.#active -= 1;
    }
    this.#queue.push(t + pruneIntervalMs, PRUNE, 0, 0);
  }

  #sample(day: number): void {
    this.#series.push({ day, active: this.#active, cost: this.#totalCost() });
    const next = day + 1;
    if (next < this.#shared.input.days) this.#queue.push(this.#shared.start + next * DAY_MS, SAMPLE, next, 0);
  }

  /** The topic's broadcasts of the keeper's look-back period, as the keeper reads them (one object per pass time). */
  #broadcastHistory(now: number): { since: Date; times: Date[] } {
    if (this.#historyCache?.now === now) return this.#historyCache.value;
    const since = now - KEEPER_HISTORY_MS;
    const times = this.#publishDates.filter((d) => d.getTime() >= since && d.getTime() < now);
    const value = { since: new Date(since), times };
    this.#historyCache = { now, value };
    return value;
  }

  /** The subscriber's nudges sent in the look-back period and how many were answered; undefined when none (the keeper then has no history). */
  #replyHistory(i: number, now: number): { sent: number; replied: number } | undefined {
    const log = this.#nudgeLog[i];
    if (!log) return undefined;
    const since = now - KEEPER_HISTORY_MS;
    let sent = 0;
    let replied = 0;
    for (let k = log.sent.length - 1; k >= 0 && (log.sent[k] as number) >= since; k -= 1) {
      sent += 1;
      replied += log.replied[k] as number;
    }
    return sent > 0 ? { sent, replied } : undefined;
  }

  #totalCost(): number {
    const c = this.#cost;
    return c.session + c.template + c.templateInWindow + c.nudge;
  }

  #result(): StrategyResult {
    const { input, population, end } = this.#shared;
    let reading = 0;
    for (let i = 0; i < this.#n; i += 1) if (this.#status[i] === SUBSCRIBED && (population.silentAt[i] as number) >= end) reading += 1;
    const total = this.#totalCost();
    const rules = STRATEGY_RULES[this.#strategy];
    return {
      strategy: this.#strategy,
      label: rules.label,
      keeperPolicy: rules.keeper,
      messages: { ...this.#messages },
      cost: { ...roundAll(this.#cost), total: money(total) },
      news: { delivered: this.#delivered, inWindow: this.#inWindow, skipped: { ...this.#newsSkipped } },
      newsInWindowShare: this.#delivered > 0 ? this.#inWindow / this.#delivered : null,
      nudgeSkips: { ...this.#nudgeSkips },
      subscribers: { start: this.#n, active: this.#active, reading, stopped: this.#stopped, pruned: { ...this.#pruned } },
      costPerActivePerMonth: this.#active > 0 ? money((total * MONTH_DAYS) / input.days / this.#active) : null,
      series: this.#series.map((s) => ({ ...s, cost: money(s.cost) })),
    };
  }

  get broadcasts(): number {
    return this.#broadcasts;
  }
}

/** Amounts to a millionth: the rate card has four decimals, sums of them pick up float noise. */
function money(amount: number): number {
  return Math.round(amount * 1e6) / 1e6;
}

function roundAll(counts: MessageCounts): MessageCounts {
  return { session: money(counts.session), template: money(counts.template), templateInWindow: money(counts.templateInWindow), nudge: money(counts.nudge) };
}
