import { MongoBulkWriteError, MongoClient, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db, type Document, type Filter, type IndexDescription, type WithId } from 'mongodb';
import { repairDroppedConnectionWrites } from './driver-repair.js';

/** MongoDB's duplicate key error (E11000): a unique index refused the write. */
const DUPLICATE_KEY = 11000;

/** Whether a single write was refused by a unique index: a claim or an event that is there already. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

export interface Database {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

/**
 * Opens the connection pool. The caller owns it and closes it with `close()`. The driver is
 * mended first, so that no request waits for ever on a dropped connection (`driver-repair.ts`).
 */
export async function connectDatabase(uri: string, name: string, appName = 'optin-broadcast-worker'): Promise<Database> {
  repairDroppedConnectionWrites();
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
 * Creates every declared index (a no-op for those that exist), one command per collection.
 * Runs at every start, so a new index ships with the code that needs it. Expiry is done by
 * cleanup jobs rather than TTL indexes, so that it runs on the same clock as the rest.
 */
export async function ensureIndexes(db: Db, declarations: readonly IndexDeclaration[]): Promise<void> {
  await Promise.all(declarations.map(({ collection, indexes }) => db.collection(collection).createIndexes(indexes)));
}

/** The documents with these `_id`s, in one query. */
export async function findByIds<T extends Document & { _id: string }>(collection: Collection<T>, ids: readonly string[], projection?: Document): Promise<WithId<T>[]> {
  if (ids.length === 0) return [];
  return collection.find({ _id: { $in: [...new Set(ids)] } } as Filter<T>, projection ? { projection } : {}).toArray();
}

/** An unordered bulk write, skipped when there is nothing to write. */
export async function bulkWrite<T extends Document>(collection: Collection<T>, ops: readonly AnyBulkWriteOperation<T>[]): Promise<void> {
  if (ops.length > 0) await collection.bulkWrite([...ops], { ordered: false });
}

/**
 * Inserts documents with unique `_id`s, unordered, and returns, per document, whether this call
 * stored it (false: one with that `_id` was there already: a claim another worker won, an
 * event seen before). Any other failure is thrown, including a bulk error that names no
 * document: a lost connection in the middle of the command stores an unknown part of it, and
 * must never count as stored.
 */
export async function insertUnique<T extends Document>(collection: Collection<T>, docs: readonly T[]): Promise<boolean[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany([...docs] as unknown as Parameters<Collection<T>['insertMany']>[0], { ordered: false });
    return docs.map(() => true);
  } catch (err) {
    const taken = duplicateKeyIndexes(err);
    if (!taken) throw err;
    return docs.map((_, i) => !taken.has(i));
  }
}

/**
 * The operations of an unordered bulk write that a unique index refused, when that is all that
 * failed; undefined for any other failure (including a bulk error that names no operation: a
 * lost connection in the middle of the command, which must never count as refused or done).
 */
export function duplicateKeyIndexes(err: unknown): Set<number> | undefined {
  if (!(err instanceof MongoBulkWriteError)) return undefined;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY) || err.writeConcernError) return undefined;
  return new Set(errors.map((e) => e.index));
}
