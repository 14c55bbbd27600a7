import type { Logger } from '../../domain/logger.js';
import type { SandboxChanges, SandboxStore, SavedMessage, SavedWebhook } from './sandbox-store.js';
import type { ContactSettings, StateListener } from './sandbox-state.js';

/** Where the journal reads the current value of what changed, when it writes it. */
export interface JournalReaders {
  message(wamid: string): SavedMessage | undefined;
  contact(waId: string): ContactSettings | undefined;
  webhook(id: string): SavedWebhook | undefined;
}

export interface JournalOptions {
  /** Changes within this long of the first one are written together; default 100 ms. */
  flushDelayMs?: number;
  /** After a failed write, the next try; default 1000 ms. */
  retryDelayMs?: number;
  logger?: Logger;
}

/**
 * Writes the sandbox's changes behind, in batches: the send path (up to about 1,000 messages
 * a second) only notes which message, contact or waiting webhook changed, and every
 * `flushDelayMs` their current values go to the store in one write (a message accepted and
 * then sent, delivered and read within the delay is written once). Writes never overlap, so a
 * later state never loses to an earlier one. A failed write is tried again; `close()` writes
 * what is left. Windows do not wait: `saveWindow` is durable when it resolves.
 */
export class StateJournal implements StateListener {
  readonly #messages = new Set<string>();
  readonly #contacts = new Set<string>();
  readonly #webhooks = new Set<string>();
  readonly #flushDelayMs: number;
  readonly #retryDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The last write (or clear) started; the next one waits for it. */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly store: SandboxStore,
    private readonly read: JournalReaders,
    private readonly options: JournalOptions = {},
  ) {
    this.#flushDelayMs = options.flushDelayMs ?? 100;
    this.#retryDelayMs = options.retryDelayMs ?? 1000;
  }

  message(wamid: string): void {
    this.#messages.add(wamid);
    this.#schedule(this.#flushDelayMs);
  }

  contact(waId: string): void {
    this.#contacts.add(waId);
    this.#schedule(this.#flushDelayMs);
  }

  webhook(id: string): void {
    this.#webhooks.add(id);
    this.#schedule(this.#flushDelayMs);
  }

  saveWindow(waId: string, lastInboundMs: number): Promise<void> {
    return this.store.saveWindow(waId, lastInboundMs);
  }

  /** Writes every change noted so far; resolves once written (or once the failure is logged). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing = this.#writing.then(() => this.#write());
    return this.#writing;
  }

  /** Forgets the changes not written yet and everything stored (after the write in progress). */
  clear(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#messages.clear();
    this.#contacts.clear();
    this.#webhooks.clear();
    const cleared = this.#writing.then(() => this.store.clear());
    this.#writing = cleared.catch(() => undefined);
    return cleared;
  }

  /** Writes what is left; nothing is scheduled afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
  }

  async #write(): Promise<void> {
    const ids = { messages: [...this.#messages], contacts: [...this.#contacts], webhooks: [...this.#webhooks] };
    if (ids.messages.length + ids.contacts.length + ids.webhooks.length === 0) return;
    this.#messages.clear();
    this.#contacts.clear();
    this.#webhooks.clear();
    const changes: SandboxChanges = { messages: [], removedMessages: [], contacts: [], webhooks: [], removedWebhooks: [] };
    for (const wamid of ids.messages) {
      const saved = this.read.message(wamid);
      if (saved) changes.messages.push(saved);
      else changes.removedMessages.push(wamid);
    }
    for (const waId of ids.contacts) {
      const settings = this.read.contact(waId);
      if (settings) changes.contacts.push({ waId, settings });
    }
    for (const id of ids.webhooks) {
      const saved = this.read.webhook(id);
      if (saved) changes.webhooks.push(saved);
      else changes.removedWebhooks.push(id);
    }
    try {
      await this.store.write(changes);
    } catch (err) {
      for (const wamid of ids.messages) this.#messages.add(wamid);
      for (const waId of ids.contacts) this.#contacts.add(waId);
      for (const id of ids.webhooks) this.#webhooks.add(id);
      const counts = { messages: ids.messages.length, contacts: ids.contacts.length, webhooks: ids.webhooks.length, error: errorKind(err) };
      if (this.#closed) this.options.logger?.error('sandbox state not saved at stop: these changes are lost', counts);
      else {
        this.options.logger?.warn('sandbox state not saved: trying again', counts);
        this.#schedule(this.#retryDelayMs);
      }
    }
  }
}

/** The kind of a failure, never its message (a database error can quote a key: a phone number). */
function errorKind(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown';
  const code = (err as { code?: unknown }).code;
  return code === undefined ? err.name : `${err.name} ${String(code)}`;
}
