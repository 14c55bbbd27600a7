/**
 * Opens the database as the worker and every command do at start (`openAppDatabase`: indexes,
 * delivery ids, then `linkStoredContacts`), and closes it again: a process that only starts.
 * Run by test/e2e/identity-migration.test.ts as a child process, to be killed in the middle of
 * the migration. The environment names the database (MONGODB_URI, MONGODB_DB); log lines go to
 * stdout as JSON.
 */
import { loadConfig } from '../../config/index.js';
import { openAppDatabase } from '../../src/app/app-database.js';
import { createLogger } from '../../src/app/logger.js';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.log.level, json: true, pii: false, stream: process.stdout });
const database = await openAppDatabase(config, logger);
await database.close();
