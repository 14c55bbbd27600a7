import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import type { Clock } from '../domain/clock.js';
import type { Metrics } from '../http/metrics.js';
import type { Logger } from './logger.js';

/** What the app builds once at start and hands down to routes and jobs. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  db: Db;
  metrics: Metrics;
}
