import type { Config } from '../../config/index.js';
import { loadRateCard, loadTopicContents } from '../../config/broadcasts.js';
import { loadConversationConfig } from '../../config/topics.js';
import type { TemplateCategory } from '../domain/delivery-policy.js';
import { ConfigError } from '../domain/errors.js';
import type { Logger } from './logger.js';
import type { RateCard } from '../domain/pricing.js';
import { simulate } from '../domain/simulation/engine.js';
import { DEFAULT_POPULATION, type PopulationParams } from '../domain/simulation/population.js';
import { DEFAULT_PUBLISHING, type PublishingPattern } from '../domain/simulation/publishing.js';
import type { SimulationResult } from '../domain/simulation/types.js';
import { openAppDatabase } from './app-database.js';
import { callingCodeOfLocale, phoneOfCallingCode, readTopicHistory, simulatedWorker, type TopicHistory } from './simulation-setup.js';
import type { SimulationContext } from './simulation-format.js';
import { BroadcastRepository } from '../store/broadcast-repository.js';
import { ContactRepository } from '../store/contact-repository.js';
import { DeliveryRepository } from '../store/delivery-repository.js';
import { NudgeRepository } from '../store/nudge-repository.js';
import { WebhookEventRepository } from '../store/webhook-event-repository.js';

export const DEFAULT_DAYS = 30;
export const DEFAULT_SUBSCRIBERS = 1000;
export const DEFAULT_SEED = 1;

/** What the operator asked for; anything left out takes its default (or, with `fromHistory`, the measured value). */
export interface SimulationRequest {
  topic?: string;
  days?: number;
  subscribers?: number;
  rateCardFile?: string;
  starts: readonly Date[];
  seed?: number;
  /** Calling code to price for (`49`); default: the region of the topic's locale. */
  country?: string;
  templateCategory?: TemplateCategory;
  publishing?: PublishingPattern;
  population: Partial<PopulationParams>;
  /** Measure reply rates, the delay and publishing from the database, over this period (ms). */
  fromHistory?: { periodMs: number; now: Date };
}

/** Thrown for a request that names something that is not there (an unknown topic): exit code 2. */
export class SimulationRequestError extends Error {
  override readonly name = 'SimulationRequestError';
}

export interface SimulationOutcome {
  context: SimulationContext;
  results: SimulationResult[];
}

/**
 * Runs the simulation as the operator asked: the topic and the worker's settings from the
 * configuration, the rate card (RATE_CARD_FILE or the one given), optionally the topic's history
 * from the database, then one simulation per start date.
 */
export async function runSimulation(config: Config, logger: Logger, request: SimulationRequest, onProgress?: (done: number, total: number) => void): Promise<SimulationOutcome> {
  const conversation = loadConversationConfig(config.topicsFile);
  const contents = loadTopicContents(config.broadcastsFile, conversation.topics.map((t) => t.id));
  const topicId = request.topic ?? conversation.topics[0]?.id;
  const topic = conversation.topics.find((t) => t.id === topicId);
  if (!topic) throw new SimulationRequestError(`--topic: unknown topic ${JSON.stringify(topicId)} (known: ${conversation.topics.map((t) => t.id).join(', ')})`);
  const rateCardFile = request.rateCardFile ?? config.rateCardFile;
  const rateCard = readRateCard(rateCardFile, request.rateCardFile !== undefined);
  const content = contents.get(topic.id);
  const country = request.country ?? callingCodeOfLocale(content);
  const templateCategory = request.templateCategory ?? content?.templates[0]?.category;

  const history = request.fromHistory ? await readHistory(config, logger, topic.id, request.fromHistory) : undefined;
  const measured = history?.measured;
  const population: PopulationParams = {
    ...DEFAULT_POPULATION,
    ...(measured?.replyToNews ? { replyToNews: measured.replyToNews.value } : {}),
    ...(measured?.replyToNudge ? { replyToNudge: measured.replyToNudge.value } : {}),
    ...(measured?.replyDelayMinutes ? { replyDelayMinutes: Math.min(24 * 60, measured.replyDelayMinutes.value) } : {}),
    ...request.population,
  };
  const publishing = request.publishing ?? measured?.publishing ?? DEFAULT_PUBLISHING;
  const subscribers = request.subscribers ?? (history && history.subscribers > 0 ? history.subscribers : DEFAULT_SUBSCRIBERS);
  const worker = simulatedWorker(config, topic);
  const results: SimulationResult[] = [];
  request.starts.forEach((start, index) => {
    results.push(simulate({
      start, days: request.days ?? DEFAULT_DAYS, subscribers, seed: request.seed ?? DEFAULT_SEED, population, publishing, worker, rateCard,
      templateCategory, phone: phoneOfCallingCode(country),
    }, { ...(onProgress ? { onProgress: (done, total) => onProgress(index * total + done, request.starts.length * total) } : {}) }));
  });
  return {
    context: { topic: topic.id, rateCardFile, country, templateCategory, timeZone: config.timezone, publishing, population, ...(measured ? { history: measured } : {}) },
    results,
  };
}

function readRateCard(path: string, given: boolean): RateCard {
  try {
    return loadRateCard(path);
  } catch (err) {
    // A file named on the command line is bad input, not the worker's configuration.
    if (given && err instanceof ConfigError) throw new SimulationRequestError(`--rate-card: ${err.message}`);
    throw err;
  }
}

async function readHistory(config: Config, logger: Logger, topic: string, options: { periodMs: number; now: Date }): Promise<TopicHistory> {
  const database = await openAppDatabase(config, logger);
  try {
    const { db } = database;
    const sources = {
      broadcasts: new BroadcastRepository(db), deliveries: new DeliveryRepository(db), nudges: new NudgeRepository(db),
      events: new WebhookEventRepository(db), contacts: new ContactRepository(db),
    };
    return await readTopicHistory(sources, topic, options.now, config.timezone, options.periodMs);
  } finally {
    await database.close();
  }
}
