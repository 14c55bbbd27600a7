import { opensWindow } from '../domain/conversation.js';
import type { ContactRepository, InboundSender } from '../store/contact-repository.js';
import { inboundKey, preferenceEventId, type StoredStatus, type WebhookEventRepository } from '../store/webhook-event-repository.js';
import type { IdentityChangeEvent, InboundMessageEvent, ParsedWebhook, StatusEvent, UserPreferenceEvent } from '../whatsapp/webhook-parser.js';
import type { Clock } from '../domain/clock.js';
import type { AcceptedBatch } from '../http/webhook-routes.js';
import type { Person } from './contact-identities.js';

/** Finds (or makes) the contact of each person: `ContactIdentities.resolve`. */
export type PersonResolver = (people: readonly Person[], now: Date) => Promise<(string | undefined)[]>;

/** Applies number changes, each once per message id (`NumberChanges.apply`); returns how many were new. */
export type IdentityChangeApplier = (changes: readonly IdentityChangeEvent[], now: Date) => Promise<number>;

/** Which events are ours, and how far ahead of our clock an event's own time may be. */
export interface IngestPolicy {
  /** `metadata.phone_number_id` of the business numbers this worker answers for. */
  readonly phoneNumberIds: readonly string[];
  /** An inbound timestamp later than the receive time plus this is not believed. */
  readonly maxClockSkewMs: number;
}

/** A batch checked against the policy, before anything is stored: what the webhook answers with. */
export interface ScreenedBatch extends AcceptedBatch {
  readonly messages: readonly InboundMessageEvent[];
  readonly statuses: readonly StatusEvent[];
  readonly preferences: readonly UserPreferenceEvent[];
  readonly identityChanges: readonly IdentityChangeEvent[];
  /** The body's digest, naming the rejected parts so that Meta's retry records nothing twice. */
  readonly digest: string;
}

export interface StoreSummary {
  /** Events not seen before, by kind. */
  messages: number;
  statuses: number;
  preferences: number;
  /** Number changes applied. */
  identityChanges: number;
  /** Events already stored (Meta retries). */
  duplicates: number;
  /** Events without any contact id. */
  unaddressable: number;
}

/**
 * Stores webhook events: `screen` sorts a parsed batch by the policy (ours, believable) without
 * any I/O; `store` writes screened batches (one or many at once) in a few bulk writes, each event
 * once, and moves the contacts' windows. Number changes are applied here, first (they are not
 * messages and open no window). The conversation and status handling happen later.
 */
export class WebhookIngest {
  readonly #ours: ReadonlySet<string>;

  constructor(
    private readonly contacts: ContactRepository,
    private readonly events: WebhookEventRepository,
    private readonly resolvePeople: PersonResolver,
    private readonly applyIdentityChanges: IdentityChangeApplier,
    private readonly clock: Clock,
    private readonly policy: IngestPolicy,
    /** Told of the status events just stored, to apply them without looking them up again. */
    private readonly onStatuses: (stored: StoredStatus[]) => void = () => {},
    /** Told of the contacts who just wrote (a reply to a nudge counts as one), once each message is stored. */
    private readonly onReplies: (replies: { contactKey: string; at: Date }[]) => Promise<void> = async () => {},
  ) {
    this.#ours = new Set(policy.phoneNumberIds);
  }

  screen(parsed: ParsedWebhook): ScreenedBatch {
    const now = this.clock.now();
    let otherNumber = 0;
    const ours = <T extends { phoneNumberId?: string }>(items: readonly T[]): T[] => items.filter((item) => {
      if (item.phoneNumberId === undefined || this.#ours.has(item.phoneNumberId)) return true;
      otherNumber += 1;
      return false;
    });
    let futureTimestamps = 0;
    const believable = <T extends InboundMessageEvent | UserPreferenceEvent>(event: T): T => {
      if (event.timestamp.getTime() <= now.getTime() + this.policy.maxClockSkewMs) return event;
      // The window only moves forward: a time in the future would keep it open for good.
      futureTimestamps += 1;
      return { ...event, timestamp: now, anomaly: 'timestamp-in-future', claimedTimestamp: event.timestamp };
    };
    return {
      messages: ours(parsed.messages).map(believable),
      statuses: ours(parsed.statuses),
      preferences: ours(parsed.preferences).map(believable),
      identityChanges: ours(parsed.identityChanges),
      rejected: ours(parsed.rejected),
      digest: parsed.digest,
      otherNumber,
      futureTimestamps,
    };
  }

  /**
   * Whether a batch holds nothing but statuses (or nothing at all): `storeStatuses` stores it in
   * one write, so the webhook needs no raw copy of it first. Most POSTs of a fan-out are such.
   */
  statusesOnly(batch: ScreenedBatch): boolean {
    return batch.messages.length === 0 && batch.preferences.length === 0 && batch.identityChanges.length === 0 && batch.rejected.length === 0;
  }

  /**
   * Stores a batch of statuses only (`statusesOnly`), in one write shared with the batches
   * stored at the same moment, and hands the new ones over to be applied. Returns how many were
   * new. Once it returns the statuses are stored; applying them follows (or, after a crash, the
   * status sweep does).
   */
  async storeStatuses(batch: ScreenedBatch): Promise<number> {
    const stored = await this.events.addStatuses(batch.statuses, this.clock.now());
    if (stored.length > 0) this.onStatuses(stored);
    return stored.length;
  }

  async store(batches: readonly ScreenedBatch[]): Promise<StoreSummary> {
    const now = this.clock.now();
    for (const batch of batches) {
      if (batch.rejected.length > 0) await this.events.addRejected(batch.rejected, batch.digest, now);
    }
    const messages = batches.flatMap((b) => b.messages);
    const statusEvents = batches.flatMap((b) => b.statuses);
    const preferences = batches.flatMap((b) => b.preferences);
    const changes = batches.flatMap((b) => b.identityChanges);

    // Before the messages: one from the new number then finds the contact it now belongs to.
    const identityChanges = await this.applyIdentityChanges(changes, now);
    const keys = await this.resolvePeople([...messages, ...preferences].map((e) => ({ phone: e.phone, userId: e.userId })), now);
    const inbound: { contactKey: string; event: InboundMessageEvent }[] = [];
    let unaddressable = 0;
    for (const [index, event] of messages.entries()) {
      const key = keys[index];
      if (key) inbound.push({ contactKey: key, event });
      else unaddressable += 1;
    }
    const fresh = await this.events.addInbound(inbound, now);
    const senders: InboundSender[] = inbound
      .filter(({ event }) => fresh.has(inboundKey(event)) && opensWindow(event.kind))
      .map(({ contactKey: key, event }) => ({
        key,
        timestamp: event.timestamp,
        ...(event.phone ? { phone: event.phone } : {}),
        ...(event.from ? { waId: event.from } : {}),
        ...(event.userId ? { userId: event.userId } : {}),
        ...(event.profileName ? { profileName: event.profileName } : {}),
      }));
    await this.contacts.recordInbound(senders, now);
    if (senders.length > 0) await this.onReplies(senders.map((sender) => ({ contactKey: sender.key, at: sender.timestamp })));

    const storedStatuses = await this.events.addStatuses(statusEvents, now);
    const statuses = storedStatuses.length;
    if (statuses > 0) this.onStatuses(storedStatuses);

    const preferenceItems = preferences.map((event, index) => {
      const key = keys[messages.length + index];
      return key ? { contactKey: key, event } : { event };
    });
    const freshPreferences = await this.events.addPreferences(preferenceItems, now);
    for (const item of preferenceItems) {
      const { event } = item;
      if (item.contactKey && freshPreferences.has(preferenceEventId(event)) && event.category === 'marketing_messages') {
        await this.contacts.recordMarketingPreference(item.contactKey, event.value, event.timestamp, now);
      }
    }

    const total = messages.length + statusEvents.length + preferences.length + changes.length;
    const stored = fresh.size + statuses + freshPreferences.size + identityChanges;
    return {
      messages: fresh.size,
      statuses,
      preferences: freshPreferences.size,
      identityChanges,
      duplicates: total - stored - unaddressable,
      unaddressable,
    };
  }
}
