import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import { connectDatabase, ensureIndexes } from '../store/database.js';
import { INDEX_DECLARATIONS } from '../store/index-declarations.js';
import { migrateLegacyDeliveryIds } from '../store/legacy-delivery-ids.js';
import { BroadcastRepository } from '../store/broadcast-repository.js';
import { ContactRepository } from '../store/contact-repository.js';
import { DeliveryRepository } from '../store/delivery-repository.js';
import { IdentityRepository } from '../store/identity-repository.js';
import { MergeRepository } from '../store/merge-repository.js';
import { NudgeRepository } from '../store/nudge-repository.js';
import { SuppressionRepository } from '../store/suppression-repository.js';
import { WebhookEventRepository } from '../store/webhook-event-repository.js';
import { ContactIdentities } from './contact-identities.js';
import { systemClock } from './system-clock.js';
import { startDatabaseServer, type DatabaseServer } from '../store/server/local-server.js';
import type { Logger } from './logger.js';

/** The database as the worker and every command use it: connected, with its indexes. */
export interface AppDatabase {
  db: Db;
  server: DatabaseServer;
  /** Closes the connection, then stops the local server if this process was its last user. */
  close(): Promise<void>;
}

/**
 * Links the identities of contacts stored before identities existed, once per database (and
 * finishes any merge a killed process left half-way): see `ContactIdentities.migrate`.
 */
export async function linkStoredContacts(db: Db, suppressionKey: string, logger: Logger, now = systemClock.now()): Promise<{ linked: number; merged: number }> {
  const people = new ContactIdentities({
    contacts: new ContactRepository(db), identities: new IdentityRepository(db), merges: new MergeRepository(db), broadcasts: new BroadcastRepository(db),
    deliveries: new DeliveryRepository(db), nudges: new NudgeRepository(db), events: new WebhookEventRepository(db), suppressions: new SuppressionRepository(db, suppressionKey), logger,
  });
  return people.migrate(now);
}

/**
 * What the worker and every command do first: start or join the database server (a local one
 * when MONGODB_URI is not set, reported in one log line), connect, create the declared
 * indexes and rename delivery ids of the form that held the phone number. Whatever was opened
 * is closed again if a later step fails.
 */
export async function openAppDatabase(config: Config, logger: Logger): Promise<AppDatabase> {
  const server = await startDatabaseServer({
    uri: config.database.uri,
    mode: 'local',
    dataDir: config.database.localDir,
    javaMaxHeap: config.database.localMaxHeap,
    report: (line) => logger.info(line),
  });
  try {
    const database = await connectDatabase(server.uri, config.database.name);
    try {
      await ensureIndexes(database.db, INDEX_DECLARATIONS);
      const renamed = await migrateLegacyDeliveryIds(database.db);
      if (renamed > 0) logger.info('delivery ids that held the phone number renamed', { renamed });
      const identities = await linkStoredContacts(database.db, config.suppressionKey, logger);
      if (identities.linked + identities.merged > 0) logger.info('contacts stored before identities were linked', identities);
    } catch (err) {
      await database.close();
      throw err;
    }
    return {
      db: database.db,
      server,
      close: async () => {
        try {
          await database.close();
        } finally {
          await server.stop();
        }
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
