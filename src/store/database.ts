import { MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Document, type Filter, type IndexDescription, type WithId } from 'mongodb';

export interface Database {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

/**
 * Connections per worker process. The work needs few (a fan-out batch has a handful of requests
 * in flight); the driver's default of 100 per process lets two busy workers take more than
 * FerretDB's whole SQLite pool (100), which then stalls.
 */
const MAX_POOL_SIZE = 20;

/** Opens the connection pool. The caller owns it and closes it with `close()`. */
export async function connectDatabase(uri: string, name: string, appName = 'optin-broadcast-worker'): Promise<Database> {
  const client = new MongoClient(uri, { appName, serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, maxPoolSize: MAX_POOL_SIZE });
  await client.connect();
  const db = client.db(name);
  return { client, db, close: () => client.close() };
}

/** The indexes one repository needs on its collection. Every index has an explicit name. */
export interface IndexDeclaration {
  collection: string;
  indexes: (IndexDescription & { name: string })[];
}

/**
 * Creates every declared index (a no-op for those that exist). Runs at every start, so a new
 * index ships with the code that needs it. Only features real MongoDB and FerretDB both have:
 * no partial or TTL indexes, and no `sparse` (FerretDB ignores it).
 */
export async function ensureIndexes(db: Db, declarations: readonly IndexDeclaration[]): Promise<void> {
  for (const { collection, indexes } of declarations) {
    // One index per command: FerretDB 1.24 drops the connection (a server-side panic) when one
    // createIndexes command lists two or more indexes that already exist, i.e. at every restart.
    for (const { key, ...options } of indexes) await db.collection(collection).createIndex(key, options);
  }
}

/**
 * Statements per bulk write command. FerretDB 1.24 keeps one SQLite connection per statement of
 * an update command until the command ends, out of a pool of 100: one command of 100
 * statements, or a few large ones at once, wait for a connection forever, and every other
 * request then waits too. Small commands keep several at once well inside the pool.
 */
export const BULK_CHUNK = 10;

/** bulkWrite in commands of at most BULK_CHUNK statements. */
export async function bulkWriteInChunks<T extends Document>(collection: Collection<T>, ops: readonly AnyBulkWriteOperation<T>[]): Promise<void> {
  for (let i = 0; i < ops.length; i += BULK_CHUNK) {
    await collection.bulkWrite(ops.slice(i, i + BULK_CHUNK), { ordered: false });
  }
}

/**
 * The documents with these `_id`s, one `findOne({ _id })` each, in parallel. FerretDB 1.24
 * (SQLite) uses no index at all (see the README), but it filters an exact `{ _id: value }`
 * inside SQLite, about 0.3 µs per stored document, while `$in` decodes every document (about
 * 15 µs each): for the few ids of a chunk, point reads are the cheaper pass. Reads do not take
 * SQLite's write lock. On MongoDB these are cheap point reads as well.
 */
export async function findByIds<T extends Document & { _id: string }>(collection: Collection<T>, ids: readonly string[], projection?: Document): Promise<WithId<T>[]> {
  const docs: (WithId<T> | null)[] = await Promise.all([...new Set(ids)].map((_id) => collection.findOne({ _id } as Filter<T>, projection ? { projection } : {})));
  return docs.filter((d) => d !== null);
}

