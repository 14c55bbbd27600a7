import { Counter, type Registry } from 'prom-client';

/** The window keeper's figures. */
export interface KeeperMetrics {
  /** Nudges by outcome (sent, failed, skipped) and reason (a skip reason, an error kind, or `sent`). */
  nudges: Counter<'outcome' | 'reason'>;
  /** Nudges answered: the contact wrote after it went, in its window. */
  nudgeReplies: Counter;
}

export function createKeeperMetrics(registry: Registry): KeeperMetrics {
  return {
    nudges: new Counter({
      name: 'optin_nudges_total',
      help: 'window keeper nudges by outcome (sent, failed, skipped) and reason (skip reason, error kind, or sent); a skip is counted once per window',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    nudgeReplies: new Counter({
      name: 'optin_nudge_replies_total',
      help: 'nudges answered by a message of the contact after the nudge went',
      registers: [registry],
    }),
  };
}
