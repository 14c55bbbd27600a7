import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { fromWaId } from '../../domain/phone.js';

/** Keys of the sandbox's ids, derived from its identity: the same business gets the same ids after a restart. */
function key(purpose: string, scope: string, bytes: 16 | 32): Buffer {
  return createHash('sha256').update(`whatsapp-sandbox:${purpose}:${scope}`).digest().subarray(0, bytes);
}

function encryptBlocks(algorithm: 'aes-128-ecb' | 'aes-256-cbc', secret: Buffer, plain: Buffer): Buffer {
  const cipher = createCipheriv(algorithm, secret, algorithm === 'aes-256-cbc' ? Buffer.alloc(16) : null).setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

function decryptBlocks(algorithm: 'aes-128-ecb' | 'aes-256-cbc', secret: Buffer, data: Buffer): Buffer {
  const decipher = createDecipheriv(algorithm, secret, algorithm === 'aes-256-cbc' ? Buffer.alloc(16) : null).setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

const MAX_CACHED = 100_000;

/**
 * Business-scoped user ids (BSUIDs) as the platform gives them: the contact's two-letter country
 * code, a dot and an opaque number (`DE.142307412693850427764410922311702541`), stable per phone
 * number and business. The sandbox encrypts the wa_id with a key of the business, so it can also
 * read one back: a send with `recipient` needs no stored table, and a restarted sandbox gives
 * every contact the same BSUID again.
 */
export class UserIds {
  readonly #key: Buffer;
  readonly #cache = new Map<string, string>();

  constructor(businessId: string) {
    this.#key = key('bsuid', businessId, 16);
  }

  /** The BSUID of a wa_id (4 to 15 digits). */
  of(waId: string): string {
    const cached = this.#cache.get(waId);
    if (cached !== undefined) return cached;
    const plain = Buffer.alloc(16);
    plain[0] = waId.length;
    plain.write(waId, 1, 'latin1');
    const block = encryptBlocks('aes-128-ecb', this.#key, plain);
    const userId = `${countryOf(waId)}.${BigInt(`0x${block.toString('hex')}`).toString(10)}`;
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(waId, userId);
    return userId;
  }

  /** The wa_id behind a BSUID of this business, or undefined for anything else. */
  waIdOf(userId: string): string | undefined {
    const match = /^([A-Z]{2})\.(\d{1,39})$/.exec(userId);
    if (!match?.[2]) return undefined;
    const number = BigInt(match[2]);
    if (number >= 1n << 128n) return undefined;
    const plain = decryptBlocks('aes-128-ecb', this.#key, Buffer.from(number.toString(16).padStart(32, '0'), 'hex'));
    const length = plain[0] ?? 0;
    const waId = plain.subarray(1, 1 + length).toString('latin1');
    const padded = plain.subarray(1 + length).every((byte) => byte === 0);
    if (length < 4 || length > 15 || !/^\d+$/.test(waId) || !padded) return undefined;
    return countryOf(waId) === match[1] ? waId : undefined;
  }
}

/**
 * The username the sandbox gives a contact played as having one without naming it
 * (`"username": true`): made from the BSUID, so it is the same after a restart and names no digit
 * of the number. A real username is chosen by the person and survives a number change; the
 * sandbox keeps the one given at first across a change too.
 */
export function sandboxUsername(userId: string): string {
  return `sandbox_${createHash('sha256').update(`whatsapp-sandbox:username:${userId}`).digest('hex').slice(0, 10)}`;
}

/** ISO 3166 country of a number; `ZZ` for one that has none (+800 and other global numbers). */
function countryOf(waId: string): string {
  const parsed = fromWaId(waId);
  return parsed.ok && parsed.country !== undefined ? parsed.country : 'ZZ';
}

/**
 * Ids of the contacts' messages (the `messages[].id` of an inbound webhook): `wamid.` and the
 * encrypted sender and a sequence that is random per start, so they never repeat across restarts
 * (the worker drops an id it has seen) and the sandbox can tell, without keeping them, that an id
 * is one of the messages it received from a contact, and from whom (mark as read).
 */
export class InboundIds {
  readonly #key: Buffer;
  readonly #prefix = randomBytes(6).toString('base64url');
  #counter = 0;

  constructor(phoneNumberId: string) {
    this.#key = key('inbound', phoneNumberId, 32);
  }

  next(from: string): string {
    this.#counter += 1;
    const plain = Buffer.alloc(32);
    plain.write(`${from}:${this.#prefix}${this.#counter.toString(36)}`, 'latin1');
    return `wamid.${encryptBlocks('aes-256-cbc', this.#key, plain).toString('base64url')}`;
  }

  /** The wa_id of the contact who sent the message with this id, or undefined for any other id. */
  senderOf(id: string): string | undefined {
    const match = /^wamid\.([A-Za-z0-9_-]{43})$/.exec(id);
    if (!match?.[1]) return undefined;
    const data = Buffer.from(match[1], 'base64url');
    if (data.length !== 32) return undefined;
    const text = decryptBlocks('aes-256-cbc', this.#key, data).toString('latin1');
    const parsed = /^(\d{4,15}):[A-Za-z0-9_-]{9,}\0*$/.exec(text);
    return parsed?.[1];
  }
}
