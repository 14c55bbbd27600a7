import { SeededRandom } from '../../src/whatsapp/sandbox/seeded-random.js';
import { signBody } from '../../src/whatsapp/webhook-signature.js';
import { contact, entry, envelope, messagesChange, OTHER_PHONE_NUMBER_ID, reaction, status, textMessage, userPreferencesChange, type Json } from './meta-webhooks.js';

/**
 * Generated hostile webhook requests, each with what the worker must answer and store (sent and
 * checked by webhook-fuzz-run.ts). Seeded: the same seed gives the same
 * requests, so a failure can be replayed. Every phone number and message id is new, so what a
 * refused request carried can be looked for afterwards, whatever ran in between.
 */

export type FuzzKind = 'handshake' | 'forged' | 'malformed' | 'not-envelope' | 'too-large' | 'bad-event' | 'mixed' | 'other-number' | 'future' | 'replay';

export interface FuzzRequest {
  readonly index: number;
  readonly kind: FuzzKind;
  /** What was done to the request, for a failure message. */
  readonly what: string;
  readonly method: 'GET' | 'POST';
  /** The path and query, e.g. `/webhooks/whatsapp`. */
  readonly path: string;
  readonly body?: Buffer;
  readonly headers: Record<string, string>;
  readonly status: number;
  /** For a 200: what the answer must count. */
  readonly counts?: { messages: number; statuses: number; preferences: number; rejected: number; otherNumber: number; futureTimestamp: number };
  /** What this request stores, when answered as expected (a replay stores nothing new). */
  readonly stores: { messages: string[]; contacts: string[]; statuses: string[]; preferences: string[]; rejected: number };
}

export interface FuzzOptions {
  seed: number;
  appSecret: string;
  verifyToken: string;
  /** The worker's clock: message timestamps are made around it. */
  now: Date;
  /** The worker's WEBHOOK_BODY_LIMIT_BYTES. */
  bodyLimit: number;
  /** Longest hostile value, in characters. */
  maxValueChars: number;
}

export const FUZZ_KINDS: readonly FuzzKind[] = ['handshake', 'forged', 'malformed', 'not-envelope', 'too-large', 'bad-event', 'mixed', 'other-number', 'future', 'replay'];
const WEIGHTS: Record<FuzzKind, number> = { 'handshake': 4, 'forged': 16, 'malformed': 14, 'not-envelope': 10, 'too-large': 1, 'bad-event': 22, 'mixed': 18, 'other-number': 5, 'future': 5, 'replay': 5 };

/** Texts a contact might send that are valid but unfriendly to a parser or a database. */
const HOSTILE_TEXTS = [
  '{"$where": "sleep(1000)"}', '{"$gt": ""}', 'a.b.$c', '__proto__', 'constructor', '\u0000nul', '\u202eRTL override', '😀👍🏽🇩🇪', 'Zalgo: Z̷̢͔a̶̡l̸g̴o',
  'please STOP sending the bill', 'Fallzahlen', 'STOP', '<script>alert(1)</script>', "'; DROP TABLE contacts; --", '\\u0041', '\r\n\t', ' ',
];

type Defect = readonly [what: string, apply: (message: Json, big: number, phone: string) => Json];

/** One defect each: every one of these messages is refused alone, with exactly one reason. */
const MESSAGE_DEFECTS: readonly Defect[] = [
  ['from with 00', (m) => ({ ...m, from: '00491511234567' })],
  ['from of 22 digits', (m) => ({ ...m, from: '1234567890123456789012' })],
  ['from with +', (m) => ({ ...m, from: `+${String(m.from)}` })],
  ['from outside the numbering plan', (m, _big, phone) => ({ ...m, from: `49153${phone.slice(-8)}` })],
  ['from of letters', (m) => ({ ...m, from: 'abcdefgh' })],
  ['from as a number', (m) => ({ ...m, from: Number(m.from) })],
  ['from as an operator object', (m) => ({ ...m, from: { $gt: '' } })],
  ['huge from', (m, big) => ({ ...m, from: '4'.repeat(big) })],
  ['empty from, no user id', (m) => ({ ...m, from: '' })],
  ['user id with |', (m) => ({ ...m, from: '', from_user_id: 'DE.a|b' })],
  ['timestamp in words', (m) => ({ ...m, timestamp: 'yesterday' })],
  ['negative timestamp', (m) => ({ ...m, timestamp: -1 })],
  ['fractional timestamp', (m) => ({ ...m, timestamp: 1741608000.5 })],
  ['timestamp of 13 digits', (m) => ({ ...m, timestamp: '1741608000000' })],
  ['timestamp null', (m) => ({ ...m, timestamp: null })],
  ['timestamp 1e10', (m) => ({ ...m, timestamp: '1e10' })],
  ['no timestamp', ({ timestamp: _t, ...m }) => m],
  ['unknown type', (m) => ({ ...m, type: 'hologram' })],
  ['type as a number', (m) => ({ ...m, type: 7 })],
  ['no type', ({ type: _t, ...m }) => m],
  ['no id', ({ id: _i, ...m }) => m],
  ['empty id', (m) => ({ ...m, id: '' })],
  ['huge id', (m, big) => ({ ...m, id: `wamid.${'A'.repeat(Math.max(251, big))}` })],
  ['id as an object', (m) => ({ ...m, id: { $ne: null } })],
  ['text type without text', ({ text: _x, ...m }) => m],
  ['text over 4,096 characters', (m, big) => ({ ...m, text: { body: 'x'.repeat(Math.max(4097, big)) } })],
  ['text body as a number', (m) => ({ ...m, text: { body: 5 } })],
  ['text null', (m) => ({ ...m, text: null })],
];

/** Seconds the platform would never send for a message received now. */
const FAR_FUTURE: readonly ((nowSeconds: number) => string | number)[] = [
  () => '999999999999', () => 1e12, () => '32503680000', () => '4102444800', (s) => String(s + 365 * 86_400), (s) => String(s + 2 * 86_400),
];

/** A replay repeats a request at least this many requests older (at most this many run at once). */
export const REPLAY_DISTANCE = 32;

/** A generator of requests; `next()` gives the request with the next index. */
export class WebhookFuzzer {
  readonly #random: SeededRandom;
  readonly #options: FuzzOptions;
  #sequence = 0;
  #index = 0;
  readonly #answered: FuzzRequest[] = [];

  constructor(options: FuzzOptions) {
    this.#options = options;
    this.#random = new SeededRandom(options.seed);
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#random.between(0, items.length - 1)] as T;
  }

  #kind(): FuzzKind {
    const total = FUZZ_KINDS.reduce((sum, k) => sum + WEIGHTS[k], 0);
    let roll = this.#random.next() * total;
    for (const kind of FUZZ_KINDS) {
      roll -= WEIGHTS[kind];
      if (roll < 0) return kind;
    }
    return 'mixed';
  }

  /** A new valid German mobile number's wa_id (`+49 151 2xxxxxxx`). */
  #phone(): string {
    this.#sequence += 1;
    return `491512${String(this.#sequence).padStart(7, '0')}`;
  }

  #id(): string {
    this.#sequence += 1;
    return `wamid.FUZZ.${this.#sequence}`;
  }

  #seconds(): string {
    return String(Math.floor(this.#options.now.getTime() / 1000) - this.#random.between(0, 3600));
  }

  #big(): number {
    return this.#random.chance(0.9) ? this.#random.between(300, 5000) : this.#random.between(5000, this.#options.maxValueChars);
  }

  /** A valid text message (or a reaction, which opens no window and gets no reply) with a contact entry, and what it stores. */
  #validMessage(allowReaction = true): { message: Json; contact: Json; waId: string; id: string; opensWindow: boolean } {
    const waId = this.#phone();
    const id = this.#id();
    if (allowReaction && this.#random.chance(0.4)) {
      const emoji = this.#pick(['👍', '', '\u0000', this.#pick(HOSTILE_TEXTS).slice(0, 10)]);
      return { message: reaction(waId, id, `wamid.FUZZ.OUT.${this.#sequence}`, emoji), contact: contact(waId), waId, id, opensWindow: false };
    }
    const text = this.#random.chance(0.5) ? this.#pick(HOSTILE_TEXTS) : `Hallo ${this.#random.between(0, 1e6)}`;
    // Keys a careless copy or query would act on, as own properties (an object literal's __proto__ would set the prototype).
    const extra = this.#random.chance(0.1) ? JSON.parse(`{"$set":{"state":"done"},"__proto__":{"polluted":true},"deep":${'['.repeat(2000)}${']'.repeat(2000)}}`) as Json : {};
    return { message: { ...textMessage(waId, id, text, this.#seconds()), ...extra }, contact: contact(waId, this.#pick(HOSTILE_TEXTS)), waId, id, opensWindow: true };
  }

  #badMessage(): { message: Json; what: string } {
    const [what, apply] = this.#pick(MESSAGE_DEFECTS);
    const waId = this.#phone();
    return { message: apply(textMessage(waId, this.#id(), this.#pick(HOSTILE_TEXTS), this.#seconds()), this.#big(), waId), what };
  }

  #post(kind: FuzzKind, what: string, raw: Buffer | string, status: number, extra: Partial<FuzzRequest> = {}, headers?: Record<string, string>): FuzzRequest {
    const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const request: FuzzRequest = {
      index: this.#index++, kind, what, method: 'POST', path: '/webhooks/whatsapp', body,
      headers: headers ?? { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, this.#options.appSecret) },
      status, stores: { messages: [], contacts: [], statuses: [], preferences: [], rejected: 0 }, ...extra,
    };
    if (status === 200) this.#answered.push(request);
    return request;
  }

  next(): FuzzRequest {
    const kind = this.#kind();
    switch (kind) {
      case 'handshake': {
        // At most 4,000 characters: a longer URL is refused by Node itself (431) before the route.
        const token = this.#random.chance(0.5) ? `${this.#options.verifyToken}x` : this.#pick(['', '%00', 'a'.repeat(Math.min(4000, this.#big())), this.#options.verifyToken.toUpperCase()]);
        const mode = this.#pick(['subscribe', 'unsubscribe', '']);
        return { index: this.#index++, kind, what: `mode ${mode}, wrong token`, method: 'GET', path: `/webhooks/whatsapp?hub.mode=${mode}&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1`, headers: {}, status: 403, stores: { messages: [], contacts: [], statuses: [], preferences: [], rejected: 0 } };
      }
      case 'forged': {
        const { message, contact: c } = this.#validMessage();
        const raw = JSON.stringify(envelope(entry(messagesChange({ contacts: [c], messages: [message] }))));
        const forgeries: [string, Record<string, string>][] = [
          ['no signature', {}],
          ['another secret', { 'x-hub-signature-256': signBody(raw, `${this.#options.appSecret}!`) }],
          ['signature of another body', { 'x-hub-signature-256': signBody(`${raw} `, this.#options.appSecret) }],
          ['sha1 prefix', { 'x-hub-signature-256': signBody(raw, this.#options.appSecret).replace('sha256=', 'sha1=') }],
          ['short signature', { 'x-hub-signature-256': signBody(raw, this.#options.appSecret).slice(0, 40) }],
          ['zero signature', { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }],
          ['garbage signature', { 'x-hub-signature-256': 'sha256=zz' }],
          ['empty signature', { 'x-hub-signature-256': '' }],
        ];
        const [what, headers] = this.#pick(forgeries);
        return this.#post(kind, what, raw, 401, {}, { 'content-type': 'application/json', ...headers });
      }
      case 'malformed': {
        const { message, contact: c } = this.#validMessage();
        const raw = JSON.stringify(envelope(entry(messagesChange({ contacts: [c], messages: [message] }))));
        const ways: [string, () => string | Buffer][] = [
          ['cut short', () => raw.slice(0, this.#random.between(0, raw.length - 1))],
          ['garbage after the value', () => `${raw}${this.#pick(['}', ' x', ',', ']', '{}'])}`],
          ['array brackets around an object body', () => `[${raw.slice(1)}`],
          ['a byte order mark', () => `\ufeff${raw}`],
          ['a bare word', () => this.#pick(['undefined', 'NaN', 'x', "{'a':1}", '{a:1}', '[4917621194288,x]'])],
          ['invalid escape', () => raw.replace('"whatsapp_business_account"', '"whatsapp_\\qbusiness_account"')],
          // Random bytes, none of which can start a JSON value or be whitespace before one.
          ['binary', () => Buffer.from(Array.from({ length: this.#random.between(1, 64) }, () => this.#random.between(0, 255)).map((b) => ('{["-0123456789tfn \t\n\r'.includes(String.fromCharCode(b)) ? 0x23 : b)))],
        ];
        const [what, make] = this.#pick(ways);
        return this.#post(kind, what, make(), 400);
      }
      case 'not-envelope': {
        const bodies: [string, unknown][] = [
          ['an array', []], ['null', null], ['a number', 4917621194288], ['a string', 'whatsapp_business_account'],
          ['another object', { object: 'page', entry: [] }], ['no object', { entry: [] }], ['entry as an object', { object: 'whatsapp_business_account', entry: {} }],
          ['changes as a string', { object: 'whatsapp_business_account', entry: [{ id: '1', changes: 'x' }] }],
          ['a change without field', { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ value: {} }] }] }],
          ['an entry id as an object', { object: 'whatsapp_business_account', entry: [{ id: { $gt: '' }, changes: [] }] }],
          ['deeply nested', { raw: `${'['.repeat(20_000)}${']'.repeat(20_000)}` }],
          ['deeply nested in an envelope', { raw: `{"object":"whatsapp_business_account","entry":${'['.repeat(20_000)}${']'.repeat(20_000)}}` }],
        ];
        const [what, body] = this.#pick(bodies);
        const raw = body !== null && typeof body === 'object' && 'raw' in body ? String(body.raw) : JSON.stringify(body);
        return this.#post(kind, what, raw, 400);
      }
      case 'too-large': {
        const { message, contact: c } = this.#validMessage();
        const padding = 'p'.repeat(this.#options.bodyLimit + this.#random.between(1, 4096));
        return this.#post(kind, 'over the body limit', JSON.stringify(envelope(entry(messagesChange({ contacts: [c], messages: [{ ...message, padding }] })))), 413);
      }
      case 'bad-event': {
        const { message, what } = this.#badMessage();
        return this.#post(kind, what, JSON.stringify(envelope(entry(messagesChange({ messages: [message] })))), 200, {
          counts: { messages: 0, statuses: 0, preferences: 0, rejected: 1, otherNumber: 0, futureTimestamp: 0 },
          stores: { messages: [], contacts: [], statuses: [], preferences: [], rejected: 1 },
        });
      }
      case 'mixed': {
        const valid = Array.from({ length: this.#random.between(1, 2) }, () => this.#validMessage());
        const bad = Array.from({ length: this.#random.between(1, 3) }, () => this.#badMessage());
        const items = [...valid.map((v) => ({ v })), ...bad.map((b) => ({ b }))].sort(() => this.#random.next() - 0.5);
        const statusWaId = this.#phone();
        const statusId = this.#id();
        const withStatus = this.#random.chance(0.5);
        const withPreference = this.#random.chance(0.3) ? valid[0]?.waId : undefined; // on a contact the batch may create
        const badStatus = this.#random.chance(0.3);
        const changes: Json[] = [messagesChange({
          contacts: valid.map((v) => v.contact),
          messages: items.map((item) => ('v' in item ? item.v.message : item.b.message)),
          ...(withStatus || badStatus ? { statuses: [...(withStatus ? [status(statusId, 'delivered', statusWaId)] : []), ...(badStatus ? [{ status: 'read', timestamp: this.#seconds(), recipient_id: statusWaId }] : [])] } : {}),
        })];
        if (withPreference) changes.push(userPreferencesChange(withPreference, 'stop', Number(this.#seconds())));
        const rejected = bad.length + (badStatus ? 1 : 0);
        return this.#post(kind, `${valid.length} valid, bad: ${bad.map((b) => b.what).join(', ')}${badStatus ? ', status without id' : ''}`, JSON.stringify(envelope(entry(...changes))), 200, {
          counts: { messages: valid.length, statuses: withStatus ? 1 : 0, preferences: withPreference ? 1 : 0, rejected, otherNumber: 0, futureTimestamp: 0 },
          stores: {
            messages: valid.map((v) => `${v.waId}|${v.id}`), contacts: valid.filter((v) => v.opensWindow).map((v) => `+${v.waId}`),
            statuses: withStatus ? [statusId] : [], preferences: withPreference ? [withPreference] : [], rejected,
          },
        });
      }
      case 'other-number': {
        const valid = Array.from({ length: this.#random.between(1, 3) }, () => this.#validMessage());
        const bad = this.#random.chance(0.5) ? [this.#badMessage().message] : [];
        const body = envelope(entry(messagesChange({ contacts: valid.map((v) => v.contact), messages: [...valid.map((v) => v.message), ...bad] }, OTHER_PHONE_NUMBER_ID)));
        return this.#post(kind, `${valid.length + bad.length} events for another number`, JSON.stringify(body), 200, {
          counts: { messages: 0, statuses: 0, preferences: 0, rejected: 0, otherNumber: valid.length + bad.length, futureTimestamp: 0 },
        });
      }
      case 'future': {
        const { message, contact: c, waId, id } = this.#validMessage(false);
        const timestamp = this.#pick(FAR_FUTURE)(Math.floor(this.#options.now.getTime() / 1000));
        return this.#post(kind, `timestamp ${String(timestamp)}`, JSON.stringify(envelope(entry(messagesChange({ contacts: [c], messages: [{ ...message, timestamp }] })))), 200, {
          counts: { messages: 1, statuses: 0, preferences: 0, rejected: 0, otherNumber: 0, futureTimestamp: 1 },
          stores: { messages: [`${waId}|${id}`], contacts: [`+${waId}`], statuses: [], preferences: [], rejected: 0 },
        });
      }
      case 'replay': {
        // Far enough back that the original has been answered even when requests run in parallel.
        const earlier = this.#answered.filter((r) => (r.kind === 'mixed' || r.kind === 'bad-event') && r.index < this.#index - REPLAY_DISTANCE);
        if (earlier.length === 0) return this.next();
        const original = this.#pick(earlier);
        const counts = original.counts;
        // Answered like the original (the answer comes before duplicates are known); stores nothing new.
        return { ...original, index: this.#index++, kind, what: `replay of request ${original.index}`, stores: { messages: [], contacts: [], statuses: [], preferences: [], rejected: 0 },
          ...(counts ? { counts } : {}) };
      }
    }
  }
}
