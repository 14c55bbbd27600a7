import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import type { SandboxChanges, SandboxStore, SavedMessage, SavedSandbox, SavedWebhook } from '../whatsapp/sandbox/sandbox-store.js';
import type { AcceptedMessage, ContactSettings, ForcedError, PlannedStatus, Pricing } from '../whatsapp/sandbox/sandbox-state.js';
import type { MessageButtons } from '../whatsapp/sandbox/sent-buttons.js';
import { bulkWrite, isDuplicateKey, type IndexDeclaration } from './database.js';

/** The latest inbound message of a contact, as the built-in sandbox (Meta's side) knows it. */
interface WindowDoc {
  /** wa_id */
  _id: string;
  lastInboundAt: Date;
}

/** How the sandbox treats one number (`POST /_sandbox/contacts`). */
interface ContactDoc {
  /** wa_id */
  _id: string;
  onWhatsApp: boolean;
  forcedError?: ForcedError;
  delayMs?: number;
  /** A person with a username who has not shared their number. */
  username?: string;
}

interface MessageDoc {
  /** wamid */
  _id: string;
  seq: number;
  to: string;
  type: AcceptedMessage['type'];
  templateName?: string;
  templateLanguage?: string;
  body: string;
  callbackData?: string;
  acceptedAt: Date;
  status: AcceptedMessage['status'];
  errorCode?: number;
  pricing?: Pricing;
  /** Sent to the BSUID (`recipient`): its statuses name no number, also after a restart. */
  byUserId?: boolean;
  buttons?: MessageButtons['buttons'];
  quickReplies?: MessageButtons['quickReplies'];
  planned?: PlannedStatus[];
}

interface WebhookDoc {
  _id: string;
  body: string;
  firstFailedAt: Date;
}

export const SANDBOX_WINDOWS = 'sandbox_windows';
export const SANDBOX_CONTACTS = 'sandbox_contacts';
export const SANDBOX_MESSAGES = 'sandbox_messages';
export const SANDBOX_WEBHOOKS = 'sandbox_webhooks';

export const sandboxStateIndexes: IndexDeclaration[] = [
  { collection: SANDBOX_MESSAGES, indexes: [{ name: 'sandbox_messages_seq', key: { seq: 1 } }] },
  { collection: SANDBOX_WEBHOOKS, indexes: [{ name: 'sandbox_webhooks_first_failed', key: { firstFailedAt: 1 } }] },
];

/** Without the fields that are undefined (the driver would store them as null). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A field read back: null (or missing) is absent. */
function present<T>(value: T | null | undefined): T | undefined {
  return value ?? undefined;
}

function toMessageDoc(saved: SavedMessage): MessageDoc {
  const m = saved.message;
  return defined({
    _id: m.wamid,
    seq: saved.seq,
    to: m.to,
    type: m.type,
    templateName: m.templateName,
    templateLanguage: m.templateLanguage,
    body: m.body,
    callbackData: m.callbackData,
    acceptedAt: m.acceptedAt,
    status: m.status,
    errorCode: m.errorCode,
    pricing: m.pricing,
    byUserId: m.byUserId,
    buttons: saved.buttons?.buttons,
    quickReplies: saved.buttons?.quickReplies,
    planned: saved.planned && saved.planned.length > 0 ? saved.planned.map((p) => defined(p)) : undefined,
  });
}

function fromMessageDoc(doc: MessageDoc): SavedMessage {
  const message: AcceptedMessage = defined({
    wamid: doc._id,
    to: doc.to,
    type: doc.type,
    templateName: present(doc.templateName),
    templateLanguage: present(doc.templateLanguage),
    body: doc.body,
    callbackData: present(doc.callbackData),
    acceptedAt: doc.acceptedAt,
    status: doc.status,
    errorCode: present(doc.errorCode),
    pricing: present(doc.pricing),
    byUserId: present(doc.byUserId),
  });
  const buttons: MessageButtons = defined({ buttons: present(doc.buttons), quickReplies: present(doc.quickReplies) });
  return defined({
    message,
    seq: doc.seq,
    buttons: buttons.buttons || buttons.quickReplies ? buttons : undefined,
    planned: present(doc.planned)?.map((p) => defined({ status: p.status, afterMs: p.afterMs, code: present(p.code) })),
  });
}

function toContactDoc(waId: string, settings: ContactSettings): ContactDoc {
  return defined({ _id: waId, onWhatsApp: settings.onWhatsApp, forcedError: settings.forcedError && defined(settings.forcedError), delayMs: settings.delayMs, username: settings.username });
}

function fromContactDoc(doc: ContactDoc): ContactSettings {
  const forced = present(doc.forcedError);
  return defined({
    onWhatsApp: doc.onWhatsApp,
    forcedError: forced && defined({ code: forced.code, remaining: present(forced.remaining), via: forced.via }),
    delayMs: present(doc.delayMs),
    username: present(doc.username),
  });
}

/**
 * The built-in sandbox's state, so that it survives a restart of the worker (which restarts
 * the sandbox with it): windows, per-number settings, accepted messages with their statuses,
 * buttons and planned statuses, and webhooks waiting for a retry. Collections of its own,
 * apart from the worker's data: what Meta would know, not what the worker knows.
 */
export class SandboxStateRepository implements SandboxStore {
  readonly #windows: Collection<WindowDoc>;
  readonly #contacts: Collection<ContactDoc>;
  readonly #messages: Collection<MessageDoc>;
  readonly #webhooks: Collection<WebhookDoc>;

  constructor(db: Db) {
    this.#windows = db.collection<WindowDoc>(SANDBOX_WINDOWS);
    this.#contacts = db.collection<ContactDoc>(SANDBOX_CONTACTS);
    this.#messages = db.collection<MessageDoc>(SANDBOX_MESSAGES);
    this.#webhooks = db.collection<WebhookDoc>(SANDBOX_WEBHOOKS);
  }

  async load(limits: { messages: number; webhooks: number }): Promise<SavedSandbox> {
    const [windows, contacts, newestMessages, newestWebhooks] = await Promise.all([
      this.#windows.find().toArray(),
      this.#contacts.find().toArray(),
      this.#messages.find().sort({ seq: -1 }).limit(limits.messages).toArray(),
      this.#webhooks.find().sort({ firstFailedAt: -1, _id: -1 }).limit(limits.webhooks).toArray(),
    ]);
    // Beyond the limits: what the sandbox forgets (a lower limit than last time, a failed delete).
    const oldestMessage = newestMessages.at(-1);
    if (newestMessages.length === limits.messages && oldestMessage) await this.#messages.deleteMany({ seq: { $lt: oldestMessage.seq } });
    const oldestWebhook = newestWebhooks.at(-1);
    if (newestWebhooks.length === limits.webhooks && oldestWebhook) await this.#webhooks.deleteMany({ firstFailedAt: { $lt: oldestWebhook.firstFailedAt } });
    return {
      windows: windows.map((w) => ({ waId: w._id, lastInboundMs: w.lastInboundAt.getTime() })),
      contacts: contacts.map((c) => ({ waId: c._id, settings: fromContactDoc(c) })),
      messages: newestMessages.reverse().map(fromMessageDoc),
      webhooks: newestWebhooks.reverse().map((w): SavedWebhook => ({ id: w._id, body: w.body, firstFailedAt: w.firstFailedAt })),
    };
  }

  async saveWindow(waId: string, lastInboundMs: number): Promise<void> {
    const write = () => this.#windows.updateOne({ _id: waId }, { $max: { lastInboundAt: new Date(lastInboundMs) } }, { upsert: true });
    try {
      await write();
    } catch (err) {
      // Two upserts of a new window at once: one inserts, the other's insert loses; it updates now.
      if (!isDuplicateKey(err)) throw err;
      await write();
    }
  }

  async write(changes: SandboxChanges): Promise<void> {
    const messages: AnyBulkWriteOperation<MessageDoc>[] = [
      ...changes.messages.map((saved) => ({ replaceOne: { filter: { _id: saved.message.wamid }, replacement: toMessageDoc(saved), upsert: true } })),
      ...changes.removedMessages.map((wamid) => ({ deleteOne: { filter: { _id: wamid } } })),
    ];
    const contacts: AnyBulkWriteOperation<ContactDoc>[] = changes.contacts.map(({ waId, settings }) => ({
      replaceOne: { filter: { _id: waId }, replacement: toContactDoc(waId, settings), upsert: true },
    }));
    const webhooks: AnyBulkWriteOperation<WebhookDoc>[] = [
      ...changes.webhooks.map((w) => ({ replaceOne: { filter: { _id: w.id }, replacement: { _id: w.id, body: w.body, firstFailedAt: w.firstFailedAt }, upsert: true } })),
      ...changes.removedWebhooks.map((id) => ({ deleteOne: { filter: { _id: id } } })),
    ];
    await Promise.all([bulkWrite(this.#messages, messages), bulkWrite(this.#contacts, contacts), bulkWrite(this.#webhooks, webhooks)]);
  }

  async clear(): Promise<void> {
    await Promise.all([this.#windows.deleteMany({}), this.#contacts.deleteMany({}), this.#messages.deleteMany({}), this.#webhooks.deleteMany({})]);
  }
}
