import type { ContactSettings, KeptMessage } from './sandbox-state.js';
import type { MessageButtons } from './sent-buttons.js';

/**
 * What the sandbox needs to keep its state across restarts (the worker restarts its built-in
 * sandbox with it): the sandbox declares it, a database repository implements it. Without one
 * the sandbox keeps everything in memory.
 */
export interface SandboxStore {
  /**
   * Everything kept: every window and contact, the newest `limits.messages` messages and the
   * newest `limits.webhooks` webhooks waiting for a retry (older ones are forgotten).
   */
  load(limits: { messages: number; webhooks: number }): Promise<SavedSandbox>;
  /** Opens or moves a contact's window forward (never back); durable once it resolves. */
  saveWindow(waId: string, lastInboundMs: number): Promise<void>;
  /** Writes a batch of changes: what is given is written whole, what is named in `removed*` is deleted. */
  write(changes: SandboxChanges): Promise<void>;
  /** Forgets everything (`POST /_sandbox/reset`). */
  clear(): Promise<void>;
}

/** An accepted message as it is kept, with the buttons a contact could tap. */
export interface SavedMessage extends KeptMessage {
  buttons?: MessageButtons;
}

/** A webhook whose delivery failed and is being retried. */
export interface SavedWebhook {
  id: string;
  /** The exact JSON body (signed again at every attempt). */
  body: string;
  /** When its first attempt failed: retries stop the configured time after it. */
  firstFailedAt: Date;
}

export interface SavedSandbox {
  windows: { waId: string; lastInboundMs: number }[];
  contacts: { waId: string; settings: ContactSettings }[];
  /** Oldest first. */
  messages: SavedMessage[];
  /** Oldest first. */
  webhooks: SavedWebhook[];
}

export interface SandboxChanges {
  messages: SavedMessage[];
  removedMessages: string[];
  contacts: { waId: string; settings: ContactSettings }[];
  webhooks: SavedWebhook[];
  removedWebhooks: string[];
}
