import { waIdOf } from './sandbox-state.js';
import type { SentButtons } from './sent-buttons.js';

/** `"id" (title)` of each button, for messages that tell which ones there are. */
function namedButtons(buttons: readonly { id: string; title: string }[]): string {
  return [...new Map(buttons.map((b) => [b.id, `${JSON.stringify(b.id)} (${b.title})`])).values()].join(', ');
}

/**
 * A tap given by its button id alone (`{"from", "button": {"id"}}`): the title, and the message
 * it answers as `context`, are taken from the latest message to that contact with that button.
 * An id the sandbox never sent to the contact is refused with the ids it did send.
 */
export function tapByIdAlone(body: unknown, sent: SentButtons): { body: unknown; error?: string } {
  if (typeof body !== 'object' || body === null) return { body };
  const { from, button, context } = body as { from?: unknown; button?: unknown; context?: unknown };
  if (typeof from !== 'string' || typeof button !== 'object' || button === null) return { body };
  const { id, title } = button as { id?: unknown; title?: unknown };
  if (typeof id !== 'string' || title !== undefined) return { body };
  const waId = waIdOf(from);
  const known = sent.buttonsTo(waId);
  const match = known.find((b) => b.id === id);
  if (!match) {
    return {
      body,
      error: known.length === 0
        ? `button: no message the sandbox sent to ${waId} has reply buttons (GET /_sandbox/messages?to=${waId} lists what it sent)`
        : `button.id: no message the sandbox sent to ${waId} has a button ${JSON.stringify(id)}; its buttons: ${namedButtons(known)}`,
    };
  }
  return { body: { ...body, button: { id, title: match.title }, ...(context === undefined ? { context: match.press.context } : {}) } };
}

/** A note for a tap on a button (given with its title) or quick reply the sandbox never sent to that contact. */
export function unknownTapNote(input: { from: string; button?: { id: string } | undefined; payload?: string | undefined }, sent: SentButtons): string | undefined {
  const waId = waIdOf(input.from);
  if (input.button) {
    const known = sent.buttonsTo(waId);
    if (known.some((b) => b.id === input.button?.id)) return undefined;
    return `delivered, but no message the sandbox sent to ${waId} has a button ${JSON.stringify(input.button.id)}${known.length > 0 ? `; its buttons: ${namedButtons(known)}` : ''}`;
  }
  if (input.payload !== undefined) {
    const known = sent.quickRepliesTo(waId);
    if (known.some((q) => q.payload === input.payload)) return undefined;
    return `delivered, but no template the sandbox sent to ${waId} has a quick reply ${JSON.stringify(input.payload)}${known.length > 0 ? `; its quick replies: ${[...new Set(known.map((q) => JSON.stringify(q.payload)))].join(', ')}` : ''}`;
  }
  return undefined;
}
