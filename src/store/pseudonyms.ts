import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { insertUnique } from './database.js';

/** Small documents the database keeps about itself, one per `_id`. */
export const SETTINGS = 'settings';
const PSEUDONYM_KEY = 'pseudonym-key';
/** 22 base64url characters: 132 bits of the HMAC, far from any collision among contacts. */
export const PSEUDONYM_CHARS = 22;

interface SecretDoc {
  _id: string;
  /** 32 random bytes, base64. */
  secret: string;
}

/** How many pseudonyms `Pseudonyms` keeps at most (a few fan-out chunks). */
export const RECENT_PSEUDONYMS = 4096;

/** Maps a phone number, user id or other personal key to its pseudonym. */
export type Pseudonymizer = (text: string) => string;

/**
 * The pseudonym of a text under a key: HMAC-SHA256, base64url, cut to 22 characters. The same
 * text gives the same pseudonym wherever the key is the same (every worker of one database);
 * without the key, nobody can find the number behind it by hashing every possible number.
 */
export function pseudonym(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url').slice(0, PSEUDONYM_CHARS);
}

/**
 * The database's pseudonym key, created on first use: every process offers a random key with
 * a unique insert, and all of them then read the one that was stored first, so concurrent
 * starts agree on one key.
 */
export async function loadPseudonymKey(db: Db): Promise<Buffer> {
  const settings = db.collection<SecretDoc>(SETTINGS);
  const found = await settings.findOne({ _id: PSEUDONYM_KEY });
  if (found) return Buffer.from(found.secret, 'base64');
  await insertUnique(settings, [{ _id: PSEUDONYM_KEY, secret: randomBytes(32).toString('base64') }]);
  const stored = await settings.findOne({ _id: PSEUDONYM_KEY });
  if (!stored) throw new Error(`the pseudonym key is missing from ${SETTINGS} right after it was stored`);
  return Buffer.from(stored.secret, 'base64');
}

/**
 * The pseudonyms of one database, for the ids that leave it (delivery ids travel to Meta as
 * `biz_opaque_callback_data` and into log lines): the key is read on first use and kept; a
 * failed read is tried again on the next use.
 */
export class Pseudonyms {
  #key: Promise<Buffer> | undefined;
  /**
   * Pseudonyms made lately: a fan-out needs a contact's delivery id several times per send
   * (find, claim, mark, log), an HMAC each (about 10 µs). Emptied when full.
   */
  readonly #recent = new Map<string, string>();

  constructor(private readonly db: Db) {}

  async pseudonymizer(): Promise<Pseudonymizer> {
    this.#key ??= loadPseudonymKey(this.db).catch((err: unknown) => {
      this.#key = undefined;
      throw err;
    });
    const key = await this.#key;
    return (text) => {
      let made = this.#recent.get(text);
      if (made === undefined) {
        made = pseudonym(key, text);
        if (this.#recent.size >= RECENT_PSEUDONYMS) this.#recent.clear();
        this.#recent.set(text, made);
      }
      return made;
    };
  }
}
