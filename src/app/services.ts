import type { Db } from 'mongodb';
import { loadRateCard, loadTopicContents } from '../../config/broadcasts.js';
import type { Config } from '../../config/index.js';
import { loadConversationConfig } from '../../config/topics.js';
import type { Clock } from '../domain/clock.js';
import { BroadcastRepository } from '../store/broadcast-repository.js';
import { ContactRepository } from '../store/contact-repository.js';
import { DeliveryRepository } from '../store/delivery-repository.js';
import { IdentityRepository } from '../store/identity-repository.js';
import { MergeRepository } from '../store/merge-repository.js';
import { NudgeRepository } from '../store/nudge-repository.js';
import { SuppressionRepository } from '../store/suppression-repository.js';
import { WebhookEventRepository } from '../store/webhook-event-repository.js';
import { ContactIdentities } from './contact-identities.js';
import type { Services } from './deps.js';
import type { Logger } from './logger.js';

/** Reads the configuration files (failing with a ConfigError naming the file) before anything starts. */
export function loadContentConfig(config: Config): Pick<Services, 'conversation' | 'contents' | 'rateCard'> {
  const conversation = loadConversationConfig(config.topicsFile);
  const contents = loadTopicContents(config.broadcastsFile, conversation.topics.map((t) => t.id));
  return { conversation, contents, rateCard: loadRateCard(config.rateCardFile) };
}

export function buildServices(config: Config, logger: Logger, clock: Clock, db: Db, content: Pick<Services, 'conversation' | 'contents' | 'rateCard'>): Services {
  const repositories = {
    contacts: new ContactRepository(db),
    identities: new IdentityRepository(db),
    merges: new MergeRepository(db),
    suppressions: new SuppressionRepository(db, config.suppressionKey),
    events: new WebhookEventRepository(db),
    broadcasts: new BroadcastRepository(db),
    deliveries: new DeliveryRepository(db),
    nudges: new NudgeRepository(db),
  };
  return { config, logger, clock, db, ...content, ...repositories, people: new ContactIdentities({ ...repositories, logger }) };
}
