import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import type { Clock } from '../domain/clock.js';
import type { ConversationConfig } from '../domain/conversation-config.js';
import type { Metrics } from '../http/metrics.js';
import type { ContactRepository } from '../store/contact-repository.js';
import type { SuppressionRepository } from '../store/suppression-repository.js';
import type { WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { CloudApiClient } from '../whatsapp/cloud-api-client.js';
import type { InboundProcessor } from './inbound-processor.js';
import type { Logger } from './logger.js';

/** What the app builds once at start and hands down to routes and jobs. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  db: Db;
  metrics: Metrics;
  conversation: ConversationConfig;
  contacts: ContactRepository;
  suppressions: SuppressionRepository;
  events: WebhookEventRepository;
  whatsapp: CloudApiClient;
  inbound: InboundProcessor;
}
