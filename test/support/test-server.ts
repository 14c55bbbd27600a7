import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import type { DatabaseServer } from '../../src/store/server/local-server.js';

/** Where the global setup (`root-hooks.ts`) leaves the server's address for the test processes. */
export const TEST_SERVER_ENV = { uri: 'TEST_DATABASE_URI', source: 'TEST_DATABASE_SOURCE' } as const;

/** The database server the global setup started for this run. */
export function testServer(): Pick<DatabaseServer, 'uri' | 'source'> {
  const uri = process.env[TEST_SERVER_ENV.uri];
  const source = process.env[TEST_SERVER_ENV.source] as DatabaseServer['source'] | undefined;
  if (!uri || !source) throw new Error('the test database server is not running (test/support/root-hooks.ts not loaded?)');
  return { uri, source };
}

/** A fresh database name per test file: `t_<file>_<random>`. */
export function testDatabaseName(file: string): string {
  const stem = basename(file).replace(/\.test\.ts$/, '').replace(/[^A-Za-z0-9]/g, '_').slice(0, 30);
  return `t_${stem}_${randomBytes(4).toString('hex')}`;
}

/**
 * Drops a test database over a connection of its own. Call it only once everything that used
 * the database (workers, schedulers, child processes) has stopped: a worker still running
 * would recreate collections in it.
 */
export async function dropTestDatabase(name: string): Promise<void> {
  const client = new MongoClient(testServer().uri);
  try {
    await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}

export interface TestDatabase {
  readonly name: string;
  readonly uri: string;
  readonly db: Db;
}

/**
 * Gives the calling `describe` its own database, created before its tests and dropped after.
 * Call at the top of a describe block with `import.meta.url`. Its `after` hook runs before
 * hooks registered later in the block, so whatever uses the database goes in `stopUsers`,
 * which runs before the drop.
 */
export function useTestDatabase(fileUrl: string, stopUsers?: () => Promise<unknown>): TestDatabase {
  const name = testDatabaseName(new URL(fileUrl).pathname);
  let client: MongoClient | undefined;
  let db: Db | undefined;
  before(async () => {
    client = new MongoClient(testServer().uri);
    await client.connect();
    db = client.db(name);
  });
  after(async () => {
    await stopUsers?.();
    await db?.dropDatabase();
    await client?.close();
  });
  return {
    name,
    get uri() {
      return testServer().uri;
    },
    get db() {
      if (!db) throw new Error('test database used outside of its describe block');
      return db;
    },
  };
}
