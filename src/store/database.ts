import { MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Document, type IndexDescription } from 'mongodb';

export interface Database {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

/** Opens the connection pool. The caller owns it and closes it with `close()`. */
export async function connectDatabase(uri: string, name: string, appName = 'optin-broadcast-worker'): Promise<Database> {
  const client = new MongoClient(uri, { appName, serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000 });
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
 * Statements per bulk write command. FerretDB 1.24 hangs on an update command of 100 or more
 * statements that change existing documents, and the collection stays stuck afterwards.
 */
export const BULK_CHUNK = 50;

/** bulkWrite in commands of at most BULK_CHUNK statements. */
export async function bulkWriteInChunks<T extends Document>(collection: Collection<T>, ops: readonly AnyBulkWriteOperation<T>[]): Promise<void> {
  for (let i = 0; i < ops.length; i += BULK_CHUNK) {
    await collection.bulkWrite(ops.slice(i, i + BULK_CHUNK), { ordered: false });
  }
}
