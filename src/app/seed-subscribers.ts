import { setTimeout as sleep } from 'node:timers/promises';
import { consentButtonId, type ConversationConfig } from '../domain/conversation-config.js';
import { PermanentError, TransientError } from '../domain/errors.js';
import { matchSubscribeKeyword } from '../domain/keywords.js';
import { parsePhone } from '../domain/phone.js';
import type { ContactRepository } from '../store/contact-repository.js';

/**
 * Test subscribers made the way real ones are: through the built-in sandbox's inbound endpoint
 * of a running worker, a subscribe keyword and then a tap on the Yes button of the consent
 * question, so that they carry real consent records and open windows.
 *
 * Their numbers come from a range kept free for fiction: the North American Numbering Plan
 * never assigns 555-0100 to 555-0199 of any area code. They pass the worker's number check
 * (libphonenumber), and no real person ever gets a message meant for them.
 */

const FICTION_LINES = { first: 100, count: 100 };

let areaCodes: number[] | undefined;

/** Area codes whose 555-01XX numbers are valid, in order; worked out on first use. */
function fictionAreaCodes(): number[] {
  areaCodes ??= Array.from({ length: 999 - 200 }, (_, i) => 201 + i).filter((npa) => {
    const first = parsePhone(`+1${npa}555${String(FICTION_LINES.first).padStart(4, '0')}`);
    const last = parsePhone(`+1${npa}555${String(FICTION_LINES.first + FICTION_LINES.count - 1).padStart(4, '0')}`);
    return first.ok && last.ok;
  });
  return areaCodes;
}

/** How many test numbers there are. */
export function testNumberCapacity(): number {
  return fictionAreaCodes().length * FICTION_LINES.count;
}

/** The first `count` test numbers (E.164), always the same ones in the same order. */
export function testNumbers(count: number): string[] {
  const codes = fictionAreaCodes();
  if (count > codes.length * FICTION_LINES.count) throw new PermanentError(`at most ${codes.length * FICTION_LINES.count} test numbers (555-0100 to 555-0199 of ${codes.length} area codes)`, { code: 'invalid-input' });
  return Array.from({ length: count }, (_, i) => `+1${codes[Math.floor(i / FICTION_LINES.count)]}555${String(FICTION_LINES.first + (i % FICTION_LINES.count)).padStart(4, '0')}`);
}

/** A reply button of a message the sandbox sent, as `GET /_sandbox/messages` lists it. */
interface ListedButton {
  id: string;
  press: unknown;
}

interface ListedMessage {
  wamid: string;
  buttons?: ListedButton[];
}

/** What seeding needs from the sandbox: its inbound endpoint and its list of sent messages. */
export interface SandboxControl {
  inbound(body: unknown): Promise<{ delivered: boolean }>;
  messages(to: string): Promise<ListedMessage[]>;
}

/** The sandbox's control endpoints over HTTP. Any answer that is not the sandbox's is a PermanentError. */
export function sandboxOverHttp(baseUrl: string, timeoutMs = 10_000): SandboxControl {
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new PermanentError(`no WhatsApp sandbox answers at ${baseUrl} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}): is the worker running (npm start) with its built-in sandbox?`, { code: 'sandbox-unreachable', cause: err });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok || json === undefined) {
      const error = typeof json === 'object' && json !== null && 'error' in json ? ` (${JSON.stringify((json as { error: unknown }).error)})` : '';
      throw new PermanentError(`${baseUrl} is not a WhatsApp sandbox: ${method} ${path} answered ${response.status}${error}`, { code: 'sandbox-unreachable' });
    }
    return json as T;
  };
  return {
    inbound: (body) => call<{ delivered: boolean }>('POST', '/_sandbox/inbound', body),
    async messages(to) {
      const answer = await call<{ messages?: ListedMessage[] }>('GET', `/_sandbox/messages?to=${encodeURIComponent(to)}`);
      if (!Array.isArray(answer.messages)) throw new PermanentError(`${baseUrl} is not a WhatsApp sandbox: /_sandbox/messages has no list of messages`, { code: 'sandbox-unreachable' });
      return answer.messages;
    },
  };
}

export interface SeedDeps {
  contacts: ContactRepository;
  conversation: ConversationConfig;
  sandbox: SandboxControl;
}

export interface SeedOptions {
  count: number;
  topic: string;
  /** How long one contact may take for each step (consent question, then confirmation). */
  stepTimeoutMs: number;
  /** Contacts seeded at the same time. */
  concurrency: number;
  pollMs?: number;
  /** After each contact: how many are done (created or already subscribed) of how many. */
  onProgress?(done: number, total: number): void;
}

export interface SeedResult {
  topic: string;
  created: number;
  alreadySubscribed: number;
  /** The test numbers used, first and last. */
  first?: string;
  last?: string;
}

async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs: number, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new TransientError(`${what} within ${Math.round(timeoutMs / 1000)} s`, { code: 'timeout' });
    await sleep(everyMs, undefined, { signal });
  }
}

/** The keyword that subscribes to `topic` (its first one that no earlier topic also claims). */
function subscribeKeyword(conversation: ConversationConfig, topic: string): string {
  const config = conversation.topics.find((t) => t.id === topic);
  if (!config) throw new PermanentError(`unknown topic "${topic}" (known: ${conversation.topics.map((t) => t.id).join(', ')})`, { code: 'invalid-input' });
  const keyword = config.keywords.find((k) => matchSubscribeKeyword(k, conversation.topics) === topic);
  if (!keyword) throw new PermanentError(`topic "${topic}" has no keyword of its own to subscribe with`, { code: 'invalid-input' });
  return keyword;
}

/**
 * Makes the first `count` test numbers confirmed subscribers of `topic` through the sandbox of
 * a running worker, waiting for each to be confirmed in the database. Numbers already
 * subscribed are left alone, so running it again creates only what is missing.
 */
export async function seedSubscribers(deps: SeedDeps, options: SeedOptions): Promise<SeedResult> {
  const { contacts, conversation, sandbox } = deps;
  const keyword = subscribeKeyword(conversation, options.topic);
  const yesId = consentButtonId('yes', options.topic, conversation.buttons);
  const numbers = testNumbers(options.count);
  const pollMs = options.pollMs ?? 100;
  let created = 0;
  let already = 0;
  const done = () => options.onProgress?.(created + already, numbers.length);

  const subscribed = async (phone: string) => ((await contacts.get(phone))?.subscriptions[options.topic]?.state === 'subscribed' ? true : undefined);
  const seedOne = async (phone: string, signal: AbortSignal): Promise<void> => {
    if (await subscribed(phone)) {
      already += 1;
      return;
    }
    const waId = phone.slice(1);
    const before = new Set((await sandbox.messages(waId)).map((m) => m.wamid));
    const sent = await sandbox.inbound({ from: waId, text: keyword });
    if (!sent.delivered) throw new PermanentError('the sandbox could not deliver the message to the worker\'s webhook: is it the built-in sandbox of a running worker (npm start)?', { code: 'sandbox-unwired' });
    const yes = await poll(
      `no consent question with a ${JSON.stringify(yesId)} button came to ${phone}`,
      async () => (await sandbox.messages(waId)).filter((m) => !before.has(m.wamid)).flatMap((m) => m.buttons ?? []).find((b) => b.id === yesId),
      options.stepTimeoutMs, pollMs, signal,
    );
    await sandbox.inbound(yes.press);
    await poll(
      `${phone} was not confirmed in the database: does the worker use the same database (MONGODB_URI, MONGODB_DB)?`,
      () => subscribed(phone), options.stepTimeoutMs, pollMs, signal,
    );
    created += 1;
  };

  // The first failure stops every lane (a poll in progress ends at once); its error is thrown
  // once all have stopped, so nothing is left running against a closed connection.
  const stop = new AbortController();
  let failure: Error | undefined;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < numbers.length && !stop.signal.aborted) {
      const phone = numbers[next++] as string;
      try {
        await seedOne(phone, stop.signal);
      } catch (err) {
        if (!stop.signal.aborted) failure = err as Error;
        stop.abort();
        return;
      }
      done();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, numbers.length) }, lane));
  if (failure) {
    failure.message = `${failure.message} (${created} created, ${already} already subscribed before it stopped)`;
    throw failure;
  }
  return { topic: options.topic, created, alreadySubscribed: already, ...(numbers.length > 0 ? { first: numbers[0], last: numbers.at(-1) } : {}) };
}
