import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import type { TopicContent } from '../domain/broadcast-content.js';
import type { Clock } from '../domain/clock.js';
import type { ConversationConfig } from '../domain/conversation-config.js';
import type { RateCard } from '../domain/pricing.js';
import type { Metrics } from '../http/metrics.js';
import type { BroadcastRepository } from '../store/broadcast-repository.js';
import type { ContactRepository } from '../store/contact-repository.js';
import type { DeliveryRepository } from '../store/delivery-repository.js';
import type { IdentityRepository } from '../store/identity-repository.js';
import type { MergeRepository } from '../store/merge-repository.js';
import type { NudgeRepository } from '../store/nudge-repository.js';
import type { SuppressionRepository } from '../store/suppression-repository.js';
import type { WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { ContactIdentities } from './contact-identities.js';
import type { DailyRunner } from './daily-runner.js';
import type { FanOut } from './fan-out.js';
import type { InboundProcessor } from './inbound-processor.js';
import type { Logger } from './logger.js';
import type { Pruner } from './pruner.js';
import type { Scheduler } from './scheduler.js';
import type { StatusApplier } from './status-applier.js';
import type { WebhookBatches } from './webhook-batches.js';
import type { WindowKeeper } from './window-keeper.js';

/** Configuration files and repositories: what the worker and the command-line scripts share. */
export interface Services {
  config: Config;
  logger: Logger;
  clock: Clock;
  db: Db;
  conversation: ConversationConfig;
  contents: Map<string, TopicContent>;
  rateCard: RateCard;
  contacts: ContactRepository;
  /** Which contact each number and user id belongs to, and the merges of contacts that are one person. */
  identities: IdentityRepository;
  merges: MergeRepository;
  /** One contact per person: resolving identities, merging, suppression under every identity. */
  people: ContactIdentities;
  suppressions: SuppressionRepository;
  events: WebhookEventRepository;
  broadcasts: BroadcastRepository;
  deliveries: DeliveryRepository;
  nudges: NudgeRepository;
}

/** What the worker builds once at start and hands down to routes and jobs. */
export interface AppDeps extends Services {
  metrics: Metrics;
  inbound: InboundProcessor;
  statuses: StatusApplier;
  fanOut: FanOut;
  scheduler: Scheduler;
  webhookBatches: WebhookBatches;
  keeper: WindowKeeper;
  daily: DailyRunner;
  pruner: Pruner;
}
