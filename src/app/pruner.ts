import { decidePrune, type PruneReason } from '../domain/pruning.js';
import type { ContactRepository, PruneCandidate, PruneLimits } from '../store/contact-repository.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Which of these contacts were sent a nudge after the given time each (their last reply). The
 * window keeper's nudge records answer it; without them, nobody counts as nudged.
 */
export type NudgedSince = (contacts: readonly { contactKey: string; since: Date }[]) => Promise<Set<string>>;

export interface PrunerDeps {
  contacts: Pick<ContactRepository, 'pruneCandidates' | 'prune'>;
  /** The topics of TOPICS_FILE. */
  topics: readonly string[];
  settings: {
    /** `PRUNE_AFTER_DAYS` (0: off). */
    afterDays: number;
    /** `PRUNE_AFTER_UNANSWERED_TEMPLATES` (0: off). */
    afterUnansweredTemplates: number;
    /** Candidates read and decided at a time. */
    pageSize: number;
  };
  nudgedSince?: NudgedSince;
  /** Called once per topic and reason with how many this pass removed (for the metric). */
  onPruned?(topic: string, reason: PruneReason, count: number): void;
}

export interface PruneReport {
  /** Subscriptions this pass ended, per topic and reason (only those it ended itself). */
  removed: Record<string, Partial<Record<PruneReason, number>>>;
  total: number;
  /** Candidates read (past a limit by the query) and decided. */
  examined: number;
  /** The pass stopped early for a shutdown; the next one does the rest. */
  interrupted: boolean;
}

const nobodyNudged: NudgedSince = async () => new Set();

/**
 * One pruning pass: per topic, the subscribers past a limit by the indexed query, decided by
 * `decidePrune`, each removed with a guarded update. Safe with several workers at once and
 * idempotent: a subscription another pass (or this one, earlier) ended, or a contact who wrote
 * since being read, fails the guard and is not counted.
 */
export class Pruner {
  constructor(private readonly deps: PrunerDeps) {}

  async prune(now: Date, signal?: AbortSignal): Promise<PruneReport> {
    const { contacts, topics, settings } = this.deps;
    const nudgedSince = this.deps.nudgedSince ?? nobodyNudged;
    const report: PruneReport = { removed: {}, total: 0, examined: 0, interrupted: false };
    const limits: PruneLimits = {
      ...(settings.afterDays > 0 ? { repliedBefore: new Date(now.getTime() - settings.afterDays * DAY_MS) } : {}),
      ...(settings.afterUnansweredTemplates > 0 ? { unansweredTemplates: settings.afterUnansweredTemplates } : {}),
    };
    for (const topic of topics) {
      const removed: Partial<Record<PruneReason, number>> = {};
      for await (const page of contacts.pruneCandidates(topic, limits, settings.pageSize)) {
        if (signal?.aborted) {
          report.interrupted = true;
          break;
        }
        const nudged = await nudgedSince(page.map((c) => ({ contactKey: c.key, since: lastReply(c) })));
        for (const candidate of page) {
          report.examined += 1;
          const decision = decidePrune({
            now,
            contactStatus: candidate.status,
            subscription: candidate.subscription.state,
            subscribedAt: candidate.subscription.changedAt,
            lastInboundAt: candidate.lastInboundAt,
            sentSinceReply: candidate.sentSinceReply,
            unansweredTemplates: candidate.unansweredTemplates,
            nudgedSinceReply: nudged.has(candidate.key),
            afterDays: settings.afterDays,
            afterUnansweredTemplates: settings.afterUnansweredTemplates,
          });
          if (decision.kind !== 'prune') continue;
          if (await contacts.prune(candidate, topic, decision.reason, decision.at)) removed[decision.reason] = (removed[decision.reason] ?? 0) + 1;
        }
      }
      for (const [reason, count] of Object.entries(removed) as [PruneReason, number][]) {
        this.deps.onPruned?.(topic, reason, count);
        report.total += count;
      }
      if (Object.keys(removed).length > 0) report.removed[topic] = removed;
      if (report.interrupted) break;
    }
    return report;
  }
}

/** The last reply as the rule counts it: the later of the last inbound message and the subscription. */
function lastReply(candidate: PruneCandidate): Date {
  const inbound = candidate.lastInboundAt?.getTime() ?? -Infinity;
  return new Date(Math.max(inbound, candidate.subscription.changedAt.getTime()));
}
