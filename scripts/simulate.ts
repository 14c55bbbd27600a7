import { writeFileSync } from 'node:fs';
import { loadConfig, readEnvFile } from '../config/index.js';
import { createLogger } from '../src/app/logger.js';
import { simulationChart } from '../src/app/simulation-chart.js';
import { formatSimulation } from '../src/app/simulation-format.js';
import { DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_SUBSCRIBERS, runSimulation, SimulationRequestError, type SimulationRequest } from '../src/app/simulation-run.js';
import { systemClock } from '../src/app/system-clock.js';
import type { TemplateCategory } from '../src/domain/delivery-policy.js';
import { KEEPER_HISTORY_MS } from '../src/domain/keeper-policy.js';
import { DEFAULT_POPULATION, POPULATION_LIMITS, type PopulationParams } from '../src/domain/simulation/population.js';
import { PUBLISHING_KINDS, type PublishingPattern } from '../src/domain/simulation/publishing.js';
import { STRATEGY_RULES } from '../src/domain/simulation/strategies.js';
import { progressOutput } from './cli/progress.js';
import { runCommand, UsageError } from './cli/run-command.js';

const d = DEFAULT_POPULATION;
const HELP = `Usage: npm run simulate -- [--topic T] [--days N] [--subscribers N] [--rate-card FILE] [--at DATE[,DATE...]]
         [--seed S] [--json] [--chart FILE.svg] [--from-history [--history-days N]] [population and publishing flags]

Simulates a topic's subscribers over N days under each sending strategy, with the worker's own
decision functions and settings (the environment and .env, as npm start reads them), and prints
per strategy the messages by kind, the cost in the rate card's currency, the subscribers still
active (and of them still reading), stopped and pruned, the cost per active subscriber per month
(30 days) and the share of news delivered inside the customer service window.
Strategies: ${Object.values(STRATEGY_RULES).map((r) => r.label).join('; ')}.

  --topic        a topic of TOPICS_FILE (default: the first)
  --days         days to simulate (default ${DEFAULT_DAYS})
  --subscribers  subscribers at the start (default ${DEFAULT_SUBSCRIBERS}; with --from-history: the topic's subscribers now)
  --rate-card    a rate card file (default RATE_CARD_FILE)
  --at           the start date YYYY-MM-DD (00:00 UTC, as the rate card's periods), or several separated by
                 commas to compare rate-card periods in one run (default: today)
  --seed         random seed (default ${DEFAULT_SEED}); the same seed and inputs give the same figures
  --country      calling code to price for, such as 49 (default: the region of the topic's locale)
  --template-category  MARKETING, UTILITY or AUTHENTICATION (default: the topic's first template's)
  --chart        write an SVG chart there: cost per retained subscriber and active subscribers, day by day
  --from-history measure from the database (no message content): publishing, the share of news and of
                 nudges answered and how long answers take, over the last --history-days (default ${KEEPER_HISTORY_MS / 86_400_000});
                 a flag given as well wins
Publishing (default daily at 09:00, APP_TIMEZONE):
  --publish daily|weekdays|irregular   --publish-time HH:MM   --publish-mean-hours H (irregular; default 24)
Population (shares from 0 to 1):
  --reply-to-nudge P (${d.replyToNudge})   --reply-to-news P (${d.replyToNews})   --reply-concentration K (${d.replyConcentration}; small: people differ more)
  --silent-per-week P (${d.silentPerWeek})   --stop-after-template P (${d.stopAfterTemplate})   --stop-after-nudge P (${d.stopAfterNudge})
  --reply-delay MINUTES (${d.replyDelayMinutes})   --join-spread HOURS (${d.joinSpreadHours}: subscribed within this before the start)`;

const POPULATION_FLAGS: Readonly<Record<string, keyof PopulationParams>> = {
  'reply-to-nudge': 'replyToNudge', 'reply-to-news': 'replyToNews', 'reply-concentration': 'replyConcentration', 'silent-per-week': 'silentPerWeek',
  'stop-after-template': 'stopAfterTemplate', 'stop-after-nudge': 'stopAfterNudge', 'reply-delay': 'replyDelayMinutes', 'join-spread': 'joinSpreadHours',
};

const FLAGS = {
  topic: { type: 'string' }, days: { type: 'string' }, subscribers: { type: 'string' }, 'rate-card': { type: 'string' }, at: { type: 'string' },
  seed: { type: 'string' }, country: { type: 'string' }, 'template-category': { type: 'string' }, chart: { type: 'string' },
  'from-history': { type: 'boolean' }, 'history-days': { type: 'string' },
  publish: { type: 'string' }, 'publish-time': { type: 'string' }, 'publish-mean-hours': { type: 'string' },
  ...Object.fromEntries(Object.keys(POPULATION_FLAGS).map((name) => [name, { type: 'string' }])),
} as const satisfies Record<string, { type: 'string' | 'boolean' }>;

function integer(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function decimal(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) throw new UsageError(`--${flag}: expected a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

function startDates(raw: string | undefined, today: Date): Date[] {
  if (raw === undefined) return [new Date(`${today.toISOString().slice(0, 10)}T00:00:00Z`)];
  return raw.split(',').map((text) => {
    const date = new Date(`${text.trim()}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text.trim()) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== text.trim()) {
      throw new UsageError(`--at: expected dates YYYY-MM-DD separated by commas, got ${JSON.stringify(raw)}`);
    }
    return date;
  });
}

function publishing(kind: string | undefined, time: string | undefined, meanHours: string | undefined): PublishingPattern | undefined {
  if (kind === undefined) {
    if (time !== undefined || meanHours !== undefined) throw new UsageError(`${time !== undefined ? '--publish-time' : '--publish-mean-hours'} goes with --publish`);
    return undefined;
  }
  if (!(PUBLISHING_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--publish: expected one of ${PUBLISHING_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  if (kind === 'irregular') {
    if (time !== undefined) throw new UsageError('--publish-time goes with --publish daily or weekdays');
    return { kind: 'irregular', meanHours: decimal('publish-mean-hours', meanHours, 0.1, 24 * 365) ?? 24 };
  }
  if (meanHours !== undefined) throw new UsageError('--publish-mean-hours goes with --publish irregular');
  const match = /^(\d{1,2}):(\d{2})$/.exec(time ?? '09:00');
  const [hour, minute] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || hour > 23 || minute > 59) throw new UsageError(`--publish-time: expected HH:MM, got ${JSON.stringify(time)}`);
  return { kind: kind as 'daily' | 'weekdays', time: { hour, minute } };
}

runCommand({ name: 'npm run simulate', help: HELP, flags: FLAGS, json: true }, async ({ values: args, print }) => {
  const values = args as Record<string, string | boolean | undefined>;
  const population: Partial<Record<keyof PopulationParams, number>> = {};
  for (const [flag, name] of Object.entries(POPULATION_FLAGS)) {
    const [min, max] = POPULATION_LIMITS[name];
    const value = decimal(flag, values[flag] as string | undefined, min, max);
    if (value !== undefined) population[name] = value;
  }
  const category = args['template-category'];
  if (category !== undefined && !['MARKETING', 'UTILITY', 'AUTHENTICATION'].includes(category)) throw new UsageError(`--template-category: expected MARKETING, UTILITY or AUTHENTICATION, got ${JSON.stringify(category)}`);
  if (args.country !== undefined && !/^\d{1,4}$/.test(args.country)) throw new UsageError(`--country: expected a calling code such as 49, got ${JSON.stringify(args.country)}`);
  if (args['history-days'] !== undefined && !args['from-history']) throw new UsageError('--history-days goes with --from-history');
  const historyDays = integer('history-days', args['history-days'], 1, 3650) ?? KEEPER_HISTORY_MS / 86_400_000;
  const now = systemClock.now();
  const request: SimulationRequest = {
    starts: startDates(args.at, now),
    population,
    ...(args.topic !== undefined ? { topic: args.topic } : {}),
    ...(args.days !== undefined ? { days: integer('days', args.days, 1, 3650) } : {}),
    ...(args.subscribers !== undefined ? { subscribers: integer('subscribers', args.subscribers, 1, 1_000_000) } : {}),
    ...(args['rate-card'] !== undefined ? { rateCardFile: args['rate-card'] } : {}),
    ...(args.seed !== undefined ? { seed: integer('seed', args.seed, -(2 ** 31), 2 ** 31 - 1) } : {}),
    ...(args.country !== undefined ? { country: args.country } : {}),
    ...(category !== undefined ? { templateCategory: category as TemplateCategory } : {}),
    ...(args['from-history'] ? { fromHistory: { periodMs: historyDays * 86_400_000, now } } : {}),
  };
  const pattern = publishing(args.publish, args['publish-time'], args['publish-mean-hours']);
  if (pattern) request.publishing = pattern;
  if (args.chart !== undefined && !args.chart.endsWith('.svg')) throw new UsageError(`--chart: expected a file name ending in .svg, got ${JSON.stringify(args.chart)}`);

  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const progress = progressOutput();
  let outcome;
  try {
    outcome = await runSimulation(config, logger, request, (done, total) => progress.update(Math.round((done / total) * 100), 100, '% simulated'));
  } catch (err) {
    if (err instanceof SimulationRequestError || err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  } finally {
    progress.stop();
  }
  const { context, results } = outcome;
  if (args.chart !== undefined) {
    const svg = simulationChart(results, `${context.topic}: ${results[0]?.subscribers ?? 0} subscribers, ${results[0]?.days ?? 0} days, per strategy`);
    try {
      writeFileSync(args.chart, svg);
    } catch (err) {
      throw new UsageError(`--chart: cannot write ${args.chart}: ${(err as Error).message}`);
    }
  }
  const text = `${formatSimulation(context, results)}${args.chart !== undefined ? `\n\nchart written to ${args.chart}` : ''}`;
  print(text, { ...context, ...(args.chart !== undefined ? { chart: args.chart } : {}), runs: results });
  return 0;
});
