import { opensWindow } from '../domain/conversation.js';
import { ContactRepository, contactKey, type InboundSender } from '../store/contact-repository.js';
import { preferenceEventId, type StoredStatus, type WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { InboundMessageEvent, ParsedWebhook } from '../whatsapp/webhook-parser.js';
import type { Clock } from '../domain/clock.js';

export interface IngestSummary {
  /** Events not seen before, by kind. */
  messages: number;
  statuses: number;
  preferences: number;
  /** Events already stored (Meta retries) or without any contact id. */
  duplicates: number;
  unaddressable: number;
}

/**
 * The fast part of a webhook POST: store every event once and move the contacts' windows,
 * in a few bulk writes. The conversation and status handling happen later, in jobs.
 */
export class WebhookIngest {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly events: WebhookEventRepository,
    private readonly clock: Clock,
    /** Told of the status events just stored, to apply them without looking them up again. */
    private readonly onStatuses: (stored: StoredStatus[]) => void = () => {},
  ) {}

  async ingest(parsed: ParsedWebhook): Promise<IngestSummary> {
    const now = this.clock.now();
    const keys = await this.#resolveKeys(parsed);

    const inbound: { contactKey: string; event: InboundMessageEvent }[] = [];
    let unaddressable = 0;
    for (const event of parsed.messages) {
      const key = keys(event.phone, event.userId);
      if (key) inbound.push({ contactKey: key, event });
      else unaddressable += 1;
    }
    const fresh = await this.events.addInbound(inbound, now);
    const senders: InboundSender[] = inbound
      .filter(({ event }) => fresh.has(event.id) && opensWindow(event.kind))
      .map(({ contactKey: key, event }) => ({
        key,
        timestamp: event.timestamp,
        ...(event.phone ? { phone: event.phone } : {}),
        ...(event.from ? { waId: event.from } : {}),
        ...(event.userId ? { userId: event.userId } : {}),
        ...(event.profileName ? { profileName: event.profileName } : {}),
      }));
    await this.contacts.recordInbound(senders, now);

    const storedStatuses = await this.events.addStatuses(parsed.statuses, now);
    const statuses = storedStatuses.length;
    if (statuses > 0) this.onStatuses(storedStatuses);

    const preferenceItems = parsed.preferences.map((event) => {
      const key = keys(event.phone, event.userId);
      return key ? { contactKey: key, event } : { event };
    });
    const freshPreferences = await this.events.addPreferences(preferenceItems, now);
    for (const item of preferenceItems) {
      const { event } = item;
      if (item.contactKey && freshPreferences.has(preferenceEventId(event)) && event.category === 'marketing_messages') {
        await this.contacts.recordMarketingPreference(item.contactKey, event.value, event.timestamp, now);
      }
    }

    const total = parsed.messages.length + parsed.statuses.length + parsed.preferences.length;
    const stored = fresh.size + statuses + freshPreferences.size;
    return {
      messages: fresh.size,
      statuses,
      preferences: freshPreferences.size,
      duplicates: total - stored - unaddressable,
      unaddressable,
    };
  }

  /** Maps (phone, user id) to a contact key, finding contacts known only by user id in one query. */
  async #resolveKeys(parsed: ParsedWebhook): Promise<(phone?: string, userId?: string) => string | undefined> {
    const userOnly = [...parsed.messages, ...parsed.preferences].filter((e) => !e.phone && e.userId).map((e) => e.userId as string);
    const known = await this.contacts.keysByUserId([...new Set(userOnly)]);
    return (phone, userId) => (phone ? phone : userId ? (known.get(userId) ?? contactKey(undefined, userId)) : undefined);
  }
}
