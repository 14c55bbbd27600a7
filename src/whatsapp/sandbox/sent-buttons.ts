/**
 * The buttons of the messages the sandbox accepted, so that `GET /_sandbox/messages` can show
 * what a contact could tap (with the `POST /_sandbox/inbound` body that taps it) and the inbound
 * endpoint can fill in a tap given by id alone.
 */

/** A reply button of an interactive message. */
export interface ListedButton {
  id: string;
  title: string;
  /** The body of `POST /_sandbox/inbound` that taps it. */
  press: { from: string; button: { id: string; title: string }; context: string };
}

/** A quick-reply button of a template, known by its payload (its label is in the approved template). */
export interface ListedQuickReply {
  index: number;
  payload: string;
  /** The body of `POST /_sandbox/inbound` that taps it. */
  press: { from: string; payload: string; context: string };
}

export interface MessageButtons {
  buttons?: ListedButton[];
  quickReplies?: ListedQuickReply[];
}

/** How many messages with buttons are remembered per contact for taps by id. */
const PER_CONTACT = 20;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** The buttons of a send request the API accepted (its shape is already validated). */
export function buttonsOf(body: unknown, to: string, wamid: string): MessageButtons | undefined {
  if (!isObject(body)) return undefined;
  if (body.type === 'interactive' && isObject(body.interactive) && isObject(body.interactive.action) && Array.isArray(body.interactive.action.buttons)) {
    const buttons = body.interactive.action.buttons.flatMap((b: unknown) => {
      if (!isObject(b) || !isObject(b.reply) || typeof b.reply.id !== 'string' || typeof b.reply.title !== 'string') return [];
      const { id, title } = b.reply;
      return [{ id, title, press: { from: to, button: { id, title }, context: wamid } }];
    });
    return buttons.length > 0 ? { buttons } : undefined;
  }
  if (body.type === 'template' && isObject(body.template) && Array.isArray(body.template.components)) {
    const quickReplies = body.template.components.flatMap((c: unknown) => {
      if (!isObject(c) || c.type !== 'button' || !Array.isArray(c.parameters)) return [];
      const parameter: unknown = c.parameters[0];
      if (!isObject(parameter) || typeof parameter.payload !== 'string') return [];
      return [{ index: Number(c.index), payload: parameter.payload, press: { from: to, payload: parameter.payload, context: wamid } }];
    });
    return quickReplies.length > 0 ? { quickReplies: quickReplies.sort((a, b) => a.index - b.index) } : undefined;
  }
  return undefined;
}

export class SentButtons {
  readonly #byWamid = new Map<string, MessageButtons>();
  /** Per contact (wa_id), the wamids of its latest messages with buttons, oldest first. */
  readonly #byContact = new Map<string, string[]>();

  constructor(private readonly maxMessages: number) {}

  /** Remembers the buttons of an accepted send, if it has any. */
  record(body: unknown, to: string, wamid: string): void {
    const found = buttonsOf(body, to, wamid);
    if (found) this.remember(to, wamid, found);
  }

  /** Remembers the buttons of a message (from a send, or kept across a restart). */
  remember(to: string, wamid: string, found: MessageButtons): void {
    this.#byWamid.set(wamid, found);
    const list = [...(this.#byContact.get(to) ?? []), wamid].slice(-PER_CONTACT);
    this.#byContact.set(to, list);
    if (this.#byWamid.size > this.maxMessages) {
      const oldest = this.#byWamid.keys().next();
      if (!oldest.done) this.#byWamid.delete(oldest.value);
    }
    if (this.#byContact.size > this.maxMessages) {
      const oldest = this.#byContact.keys().next();
      if (!oldest.done) this.#byContact.delete(oldest.value);
    }
  }

  of(wamid: string): MessageButtons | undefined {
    return this.#byWamid.get(wamid);
  }

  /** The reply buttons sent to a contact, latest message first. */
  buttonsTo(waId: string): ListedButton[] {
    return this.#latestFirst(waId).flatMap((m) => m.buttons ?? []);
  }

  /** The quick-reply payloads sent to a contact, latest message first. */
  quickRepliesTo(waId: string): ListedQuickReply[] {
    return this.#latestFirst(waId).flatMap((m) => m.quickReplies ?? []);
  }

  clear(): void {
    this.#byWamid.clear();
    this.#byContact.clear();
  }

  #latestFirst(waId: string): MessageButtons[] {
    return [...(this.#byContact.get(waId) ?? [])].reverse().flatMap((wamid) => {
      const found = this.#byWamid.get(wamid);
      return found ? [found] : [];
    });
  }
}
