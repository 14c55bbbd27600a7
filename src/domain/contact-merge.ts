/**
 * What two contact records that turn out to be one person become (a number and a business-scoped
 * user id first seen apart, then together). Pure: the store reads both, applies the result to
 * the contact that stays, and keeps the other as a tombstone and in the merge record.
 */

/** A subscription record as far as the merge looks at it. */
export interface MergeSubscription {
  readonly state: string;
  readonly changedAt: Date;
  readonly consent?: unknown;
}

export type MergeStatus = 'active' | 'lapsed' | 'removed';

/** The parts of a contact the merge combines. */
export interface MergeContact<S extends MergeSubscription> {
  readonly status: MergeStatus;
  readonly lapsedAt?: Date;
  readonly subscriptions: Readonly<Record<string, S>>;
  readonly lastInboundAt?: Date;
  readonly conversationAt?: Date;
  readonly windowOpenedAt?: Date;
  readonly lastHelpSentAt?: Date;
  readonly sentSinceReply: number;
  readonly unansweredTemplates: number;
  readonly phone?: string;
  readonly waId?: string;
  readonly userId?: string;
  readonly profileName?: string;
  readonly language?: string;
  readonly marketing?: { readonly value: string; readonly at: Date };
  readonly createdAt: Date;
}

/** What the staying contact is set to: every field named here is written, the rest stays. */
export interface MergedFields<S extends MergeSubscription> {
  /** Only the topics whose record changes. */
  subscriptions: Record<string, S>;
  status: MergeStatus;
  /** Set with status `lapsed`; cleared otherwise. */
  lapsedAt?: Date;
  lastInboundAt?: Date;
  conversationAt?: Date;
  windowOpenedAt?: Date;
  lastHelpSentAt?: Date;
  sentSinceReply: number;
  unansweredTemplates: number;
  /** Filled only where the staying contact has none. */
  fill: { phone?: string; waId?: string; userId?: string; profileName?: string; language?: string; marketing?: { readonly value: string; readonly at: Date } };
  createdAt: Date;
}

const time = (d: Date | undefined): number => d?.getTime() ?? Number.NEGATIVE_INFINITY;
const later = (a: Date | undefined, b: Date | undefined): Date | undefined => (time(b) > time(a) ? b : a);

/**
 * Merges `other` into `stays`:
 * - per topic, the later decision wins (by `changedAt`: the person's own latest yes or no), and
 *   consent evidence is kept from whichever record has it when the winner has none;
 * - the window is the later of the two (last inbound, the conversation's own times), and so is
 *   every counter of messages since the last reply: a reply under either identity is a reply;
 * - `removed` stays removed; otherwise active when either is active, else lapsed;
 * - a number, user id, name, language or marketing preference the staying contact lacks is taken.
 */
export function mergeContacts<S extends MergeSubscription>(stays: MergeContact<S>, other: MergeContact<S>): MergedFields<S> {
  const subscriptions: Record<string, S> = {};
  for (const [topic, theirs] of Object.entries(other.subscriptions)) {
    const ours = stays.subscriptions[topic];
    if (!ours) {
      subscriptions[topic] = theirs;
      continue;
    }
    const winner = theirs.changedAt.getTime() > ours.changedAt.getTime() ? theirs : ours;
    const loser = winner === ours ? theirs : ours;
    const evidence = winner.consent === undefined && loser.consent !== undefined ? { ...winner, consent: loser.consent } : winner;
    if (evidence !== ours) subscriptions[topic] = evidence;
  }

  const latestReply = time(other.lastInboundAt) > time(stays.lastInboundAt) ? other : stays;
  const noReply = stays.lastInboundAt === undefined && other.lastInboundAt === undefined;
  const newerConversation = time(other.conversationAt) > time(stays.conversationAt) ? other : stays;

  const status: MergeStatus = stays.status === 'removed' || other.status === 'removed' ? 'removed' : stays.status === 'active' || other.status === 'active' ? 'active' : 'lapsed';
  const lapsedAt = status === 'lapsed' ? later(stays.lapsedAt, other.lapsedAt) : undefined;

  const fill: MergedFields<S>['fill'] = {};
  for (const field of ['phone', 'waId', 'userId', 'profileName', 'language'] as const) {
    const value = other[field];
    if (stays[field] === undefined && value !== undefined) fill[field] = value;
  }
  if (other.marketing && time(other.marketing.at) > time(stays.marketing?.at)) fill.marketing = other.marketing;

  const lastInboundAt = later(stays.lastInboundAt, other.lastInboundAt);
  const conversationAt = later(stays.conversationAt, other.conversationAt);
  const lastHelpSentAt = later(stays.lastHelpSentAt, other.lastHelpSentAt);
  return {
    subscriptions,
    status,
    ...(lapsedAt ? { lapsedAt } : {}),
    ...(lastInboundAt ? { lastInboundAt } : {}),
    ...(conversationAt ? { conversationAt } : {}),
    ...(newerConversation.windowOpenedAt ? { windowOpenedAt: newerConversation.windowOpenedAt } : {}),
    ...(lastHelpSentAt ? { lastHelpSentAt } : {}),
    sentSinceReply: noReply ? Math.max(stays.sentSinceReply, other.sentSinceReply) : latestReply.sentSinceReply,
    unansweredTemplates: noReply ? Math.max(stays.unansweredTemplates, other.unansweredTemplates) : latestReply.unansweredTemplates,
    fill,
    createdAt: time(other.createdAt) < time(stays.createdAt) ? other.createdAt : stays.createdAt,
  };
}
