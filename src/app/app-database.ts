import type { Db } from 'mongodb';
import type { Config } from '../../config/index.js';
import { connectDatabase, ensureIndexes } from '../store/database.js';
import { INDEX_DECLARATIONS } from '../store/index-declarations.js';
import { migrateLegacyDeliveryIds } from '../store/legacy-delivery-ids.js';
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
