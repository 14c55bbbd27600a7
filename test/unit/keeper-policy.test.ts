import { expect } from 'chai';
import { loadRateCard } from '../../config/broadcasts.js';
import {
  broadcastInWindowProbability, decideNudge, estimateNudge, isWorthIt, KEEPER_PRIORS, NUDGE_SKIP_REASONS, nudgeLookaheadMs, replyProbability,
  type NudgeDecision, type NudgeInput, type NudgeSkipReason,
} from '../../src/domain/keeper-policy.js';
import type { RateCard } from '../../src/domain/pricing.js';
import { parseQuietHours } from '../../src/domain/quiet-hours.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const DE = '+4915112345678';
const US = '+12015550123';
const at = (iso: string) => new Date(iso);
/** The shipped rate card: 2025-07 period (inside the window free) and, for +49, the 2026-10 one (charged at the utility rate, 0.0456). */
const CARD = loadRateCard('config/rate-card.json');
const NIGHT = parseQuietHours('22:00-07:00');

/** Wrote at 09:00 UTC on 2026-01-15 (winter, 2025-07 rate period); window closes 09:00 on the 16th. */
function input(fields: Partial<NudgeInput> = {}): NudgeInput {
  return {
    now: at('2026-01-15T12:00:00Z'),
    policy: 'always',
    subscription: 'subscribed',
    contactStatus: 'active',
    suppressed: false,
    lastInboundAt: at('2026-01-15T09:00:00Z'),
    nudgeBeforeCloseMs: 5 * MINUTE,
    safetyMarginMs: MINUTE,
    quietHours: undefined,
    timeZone: 'Europe/Berlin',
    economics: { rateCard: CARD, phone: DE, templateCategory: 'UTILITY' },
    ...fields,
  };
}

function nudgeAt(decision: NudgeDecision): string {
  expect(decision.kind, JSON.stringify(decision)).to.equal('nudge');
  return (decision as { at: Date }).at.toISOString();
}

function skipReason(decision: NudgeDecision): NudgeSkipReason {
  expect(decision.kind, JSON.stringify(decision)).to.equal('skip');
  return (decision as { reason: NudgeSkipReason }).reason;
}

/** A broadcast every 24 hours over the 28 days before `now` (the first an hour into them). */
function dailyBroadcasts(now: Date): { since: Date; times: Date[] } {
  const since = new Date(now.getTime() - 28 * DAY);
  const times = Array.from({ length: 28 }, (_, i) => new Date(since.getTime() + i * DAY + HOUR));
  return { since, times };
}

describe('window keeper: decideNudge', () => {
  describe('timing', () => {
    it('nudges NUDGE_BEFORE_CLOSE_MS before the window closes, naming the window it belongs to', () => {
      const decision = decideNudge(input());
      expect(decision).to.deep.equal({
        kind: 'nudge', at: at('2026-01-16T08:55:00Z'), windowOf: at('2026-01-15T09:00:00Z'), closesAt: at('2026-01-16T09:00:00Z'), beforeQuietHours: false,
      });
    });

    it('a keeper that comes late nudges at once while the window is open beyond the safety margin', () => {
      expect(nudgeAt(decideNudge(input({ now: at('2026-01-16T08:57:00Z') })))).to.equal('2026-01-16T08:57:00.000Z');
      expect(nudgeAt(decideNudge(input({ now: at('2026-01-16T08:58:59.999Z') })))).to.equal('2026-01-16T08:58:59.999Z');
    });

    it('never nudges at or inside the safety margin, nor after the window closed', () => {
      expect(skipReason(decideNudge(input({ now: at('2026-01-16T08:59:00Z') })))).to.equal('inside-safety-margin');
      expect(skipReason(decideNudge(input({ now: at('2026-01-16T08:59:59.999Z') })))).to.equal('inside-safety-margin');
      expect(skipReason(decideNudge(input({ now: at('2026-01-16T09:00:00Z') })))).to.equal('window-closed');
      expect(skipReason(decideNudge(input({ now: at('2026-01-20T12:00:00Z') })))).to.equal('window-closed');
    });

    it('a nudge time exactly at the safety margin boundary is not sent, a millisecond earlier is', () => {
      expect(skipReason(decideNudge(input({ nudgeBeforeCloseMs: MINUTE })))).to.equal('inside-safety-margin');
      expect(nudgeAt(decideNudge(input({ nudgeBeforeCloseMs: MINUTE + 1 })))).to.equal('2026-01-16T08:58:59.999Z');
    });

    it('one nudge per window: none when this window had one, or had a broadcast carrying the buttons', () => {
      const windowOf = at('2026-01-15T09:00:00Z');
      const late = { now: at('2026-01-16T08:56:00Z') };
      expect(decideNudge(input({ ...late, lastNudge: { windowOf, via: 'nudge' } }))).to.deep.equal({ kind: 'skip', reason: 'already-nudged', windowOf });
      expect(skipReason(decideNudge(input({ ...late, lastNudge: { windowOf, via: 'broadcast' } })))).to.equal('broadcast-carried-buttons');
      expect(nudgeAt(decideNudge(input({ ...late, lastNudge: { windowOf: at('2026-01-14T07:00:00Z'), via: 'nudge' } })))).to.equal('2026-01-16T08:56:00.000Z');
    });

    it('a reply moves the window and the nudge with it; the earlier nudge time is no longer due', () => {
      const old = at('2026-01-15T09:00:00Z');
      const replied = at('2026-01-16T08:50:00Z');
      // The keeper comes at the nudge time planned for the old window and decides again.
      const decision = decideNudge(input({ now: at('2026-01-16T08:55:00Z'), lastInboundAt: replied, lastNudge: { windowOf: old, via: 'nudge' } }));
      expect(decision).to.deep.equal({
        kind: 'nudge', at: at('2026-01-17T08:45:00Z'), windowOf: replied, closesAt: at('2026-01-17T08:50:00Z'), beforeQuietHours: false,
      });
    });

    it('a stale contact read (a nudge recorded for a later window than the one seen) counts as nudged', () => {
      expect(skipReason(decideNudge(input({ lastNudge: { windowOf: at('2026-01-15T10:00:00Z'), via: 'nudge' } })))).to.equal('already-nudged');
    });
  });

  describe('who is nudged', () => {
    it('only subscribed, unsuppressed contacts that are not removed and have a window; lapsed ones too', () => {
      expect(skipReason(decideNudge(input({ contactStatus: 'removed' })))).to.equal('removed');
      expect(skipReason(decideNudge(input({ subscription: 'pending' })))).to.equal('pending-consent');
      expect(skipReason(decideNudge(input({ subscription: 'unsubscribed' })))).to.equal('unsubscribed');
      expect(skipReason(decideNudge(input({ subscription: undefined })))).to.equal('unsubscribed');
      expect(skipReason(decideNudge(input({ suppressed: true })))).to.equal('suppressed');
      expect(skipReason(decideNudge(input({ lastInboundAt: undefined })))).to.equal('no-window');
      expect(nudgeAt(decideNudge(input({ contactStatus: 'lapsed' })))).to.equal('2026-01-16T08:55:00.000Z');
    });

    it('KEEPER_POLICY=off nudges nobody', () => {
      expect(skipReason(decideNudge(input({ policy: 'off' })))).to.equal('policy-off');
    });
  });

  describe('quiet hours (22:00-07:00 in Europe/Berlin)', () => {
    // Wrote at 23:30 local (22:30 UTC): the nudge would go at 23:25 local the next day.
    const lateWriter = { quietHours: NIGHT, lastInboundAt: at('2026-01-15T22:30:00Z') };

    it('a nudge that would fall into them goes NUDGE_BEFORE_CLOSE_MS before they begin', () => {
      const decision = decideNudge(input(lateWriter));
      expect(decision).to.deep.include({ kind: 'nudge', at: at('2026-01-16T20:55:00Z'), beforeQuietHours: true });
    });

    it('moved but already past that time, it goes at once, until quiet hours begin', () => {
      expect(nudgeAt(decideNudge(input({ ...lateWriter, now: at('2026-01-16T20:59:59Z') })))).to.equal('2026-01-16T20:59:59.000Z');
      expect(skipReason(decideNudge(input({ ...lateWriter, now: at('2026-01-16T21:00:00Z') })))).to.equal('quiet-hours');
    });

    it('a keeper that comes late into quiet hours does not nudge, even with the window open', () => {
      // Wrote at 22:03 local: the nudge was due at 21:58 local, the keeper comes at 22:01 local, two minutes before the window closes.
      expect(skipReason(decideNudge(input({ quietHours: NIGHT, lastInboundAt: at('2026-01-15T21:03:00Z'), now: at('2026-01-16T21:01:00Z') })))).to.equal('quiet-hours');
      expect(nudgeAt(decideNudge(input({ quietHours: NIGHT, lastInboundAt: at('2026-01-15T21:03:00Z'), now: at('2026-01-16T20:59:00Z') })))).to.equal('2026-01-16T20:59:00.000Z');
    });

    it('a nudge outside them is not moved', () => {
      expect(decideNudge(input({ quietHours: NIGHT }))).to.deep.include({ at: at('2026-01-16T08:55:00Z'), beforeQuietHours: false });
    });

    it('spring-forward night (2026-03-29): 07:30 summer time is after quiet hours, 06:25 is inside them', () => {
      // Window closes 05:35 UTC = 07:35 CEST; the nudge at 07:30 CEST is not quiet (it would be 06:30 on winter time).
      expect(decideNudge(input({ quietHours: NIGHT, now: at('2026-03-28T12:00:00Z'), lastInboundAt: at('2026-03-28T05:35:00Z') })))
        .to.deep.include({ at: at('2026-03-29T05:30:00Z'), beforeQuietHours: false });
      // Window closes 04:30 UTC = 06:30 CEST: the nudge moves to before 22:00 CET the evening before (21:00 UTC).
      expect(decideNudge(input({ quietHours: NIGHT, now: at('2026-03-28T12:00:00Z'), lastInboundAt: at('2026-03-28T04:30:00Z') })))
        .to.deep.include({ at: at('2026-03-28T20:55:00Z'), beforeQuietHours: true });
    });

    it('fall-back night (2026-10-25): 06:30 winter time is still inside quiet hours', () => {
      // Window closes 05:35 UTC = 06:35 CET; the nudge at 06:30 CET is quiet (it would be 07:30 on summer time):
      // it moves to before 22:00 CEST the evening before (20:00 UTC).
      expect(decideNudge(input({ quietHours: NIGHT, now: at('2026-10-24T12:00:00Z'), lastInboundAt: at('2026-10-24T05:35:00Z') })))
        .to.deep.include({ kind: 'nudge', at: at('2026-10-24T19:55:00Z'), beforeQuietHours: true });
    });

    it('a midday quiet period (13:00-14:00) moves a nudge due at 13:30 to 12:55', () => {
      const decision = decideNudge(input({ quietHours: parseQuietHours('13:00-14:00'), lastInboundAt: at('2026-01-15T12:35:00Z') }));
      expect(decision).to.deep.include({ at: at('2026-01-16T11:55:00Z'), beforeQuietHours: true });
    });
  });

  describe('worth-it', () => {
    const worthIt = (fields: Partial<NudgeInput> = {}) => input({ policy: 'worth-it', ...fields });

    it('2025-07 period (the nudge is free): always nudges, even for a contact who never answers', () => {
      const decision = decideNudge(worthIt({ economics: { rateCard: CARD, phone: DE, templateCategory: 'UTILITY', nudgeReplies: { sent: 20, replied: 0 }, broadcasts: { since: at('2025-12-18T12:00:00Z'), times: [] } } }));
      expect(decision.kind).to.equal('nudge');
      expect(decision.kind === 'nudge' && decision.estimate).to.deep.include({ nudgePrice: 0, sessionPrice: 0, templatePrice: 0.0456, currency: 'EUR' });
    });

    describe('2026-10 period for +49 (inside the window charged at the utility rate 0.0456)', () => {
      const NOW = at('2026-11-10T12:00:00Z');
      const november = (economics: Partial<NudgeInput['economics']>) =>
        worthIt({ now: NOW, lastInboundAt: at('2026-11-10T09:00:00Z'), economics: { rateCard: CARD, phone: DE, templateCategory: 'MARKETING', ...economics } });

      it('a utility template costs what a session message costs: a nudge never pays for itself', () => {
        const decision = decideNudge(november({ templateCategory: 'UTILITY', broadcasts: dailyBroadcasts(NOW), nudgeReplies: { sent: 10, replied: 10 } }));
        expect(decision).to.deep.include({ kind: 'skip', reason: 'not-worth-it' });
        expect(decision.estimate).to.deep.include({ templatePrice: 0.0456, sessionPrice: 0.0456, nudgePrice: 0.0456, saving: 0 });
      });

      it('a marketing template (0.1131): nudges a contact who answers, on a topic that publishes daily', () => {
        // P(broadcast) = (27 days covered + 0.5 × 1 day) / 28 days; P(reply) = (9 + 1) / (10 + 2); saving = 0.0552 >= 0.0456
        const decision = decideNudge(november({ broadcasts: dailyBroadcasts(NOW), nudgeReplies: { sent: 10, replied: 9 } }));
        expect(decision.kind).to.equal('nudge');
        const estimate = decision.estimate!;
        expect(estimate.pBroadcast).to.be.closeTo(27.5 / 28, 1e-12);
        expect(estimate.pReply).to.be.closeTo(10 / 12, 1e-12);
        expect(estimate.saving).to.be.closeTo((27.5 / 28) * (10 / 12) * (0.1131 - 0.0456), 1e-12);
      });

      it('…but not one who rarely answers, nor a topic that rarely publishes', () => {
        expect(skipReason(decideNudge(november({ broadcasts: dailyBroadcasts(NOW), nudgeReplies: { sent: 10, replied: 2 } })))).to.equal('not-worth-it');
        const rare = { since: new Date(NOW.getTime() - 28 * DAY), times: [at('2026-10-20T06:00:00Z')] };
        expect(skipReason(decideNudge(november({ broadcasts: rare, nudgeReplies: { sent: 10, replied: 10 } })))).to.equal('not-worth-it');
      });

      it('with no history the priors (0.5 and 0.5) give a saving of 0.0169, below the nudge', () => {
        const decision = decideNudge(november({}));
        expect(decision).to.deep.include({ kind: 'skip', reason: 'not-worth-it' });
        expect(decision.estimate).to.deep.include({ pBroadcast: 0.5, pReply: 0.5 });
        expect(decision.estimate?.saving).to.be.closeTo(0.25 * (0.1131 - 0.0456), 1e-12);
      });

      it('a country whose rate card has no charged period nudges for free', () => {
        // The shipped card charges every country from 2026-10-01; without '*' in that period, +1 stays free.
        const freeElsewhere = { ...CARD, periods: CARD.periods.filter((p) => !(p.country === '*' && p.sessionInWindow === 'utility')) };
        expect(decideNudge(november({ phone: US, rateCard: freeElsewhere })).kind).to.equal('nudge');
        expect(decideNudge(november({ phone: US, broadcasts: dailyBroadcasts(NOW), nudgeReplies: { sent: 10, replied: 0 } })).kind, 'the shipped card charges +1 too').to.equal('skip');
      });

      it('a topic without a template nudges: without the nudge its next broadcast could not reach the contact', () => {
        const decision = decideNudge(november({ templateCategory: undefined }));
        expect(decision.kind).to.equal('nudge');
        expect(decision.estimate).to.deep.include({ templatePrice: undefined, saving: undefined, nudgePrice: 0.0456 });
      });
    });

    it('prices the nudge at the time it goes, not at the time of deciding', () => {
      // Decided on 30 September, sent at 00:55 UTC on 1 October: the charged period applies.
      const decision = decideNudge(worthIt({ now: at('2026-09-30T22:00:00Z'), lastInboundAt: at('2026-09-30T01:00:00Z') }));
      expect(decision).to.deep.include({ kind: 'skip', reason: 'not-worth-it' });
      expect(decision.estimate?.nudgePrice).to.equal(0.0456);
      expect(nudgeAt(decideNudge(worthIt({ now: at('2026-09-29T22:00:00Z'), lastInboundAt: at('2026-09-29T01:00:00Z') })))).to.equal('2026-09-30T00:55:00.000Z');
    });

    it('a tie (saving exactly the nudge price) nudges; a little less does not', () => {
      const card = (marketing: number): RateCard => ({
        currency: 'EUR',
        periods: [{ effectiveFrom: at('2025-01-01'), country: '*', rates: { MARKETING: marketing, UTILITY: 0.25, AUTHENTICATION: 0.25 }, sessionInWindow: 'utility', utilityTemplateInWindow: 'utility' }],
      });
      // Priors: 0.5 × 0.5 × (1.25 − 0.25) = 0.25 = the nudge.
      const tie = decideNudge(worthIt({ economics: { rateCard: card(1.25), phone: DE, templateCategory: 'MARKETING' } }));
      expect(tie.kind).to.equal('nudge');
      expect(tie.estimate).to.deep.include({ saving: 0.25, nudgePrice: 0.25 });
      expect(skipReason(decideNudge(worthIt({ economics: { rateCard: card(1.2), phone: DE, templateCategory: 'MARKETING' } })))).to.equal('not-worth-it');
    });

    it('KEEPER_POLICY=always nudges without weighing the cost, where worth-it would not', () => {
      const economics = { rateCard: CARD, phone: DE, templateCategory: 'UTILITY' as const };
      const always = decideNudge(input({ now: at('2026-11-10T12:00:00Z'), lastInboundAt: at('2026-11-10T09:00:00Z'), economics }));
      expect(always.kind).to.equal('nudge');
      expect(always).not.to.have.property('estimate');
      expect(isWorthIt(estimateNudge(economics, at('2026-11-11T08:55:00Z'), at('2026-11-10T12:00:00Z')))).to.equal(false);
    });
  });

  it('every skip reason in NUDGE_SKIP_REASONS is reachable', () => {
    const november = { now: at('2026-11-10T12:00:00Z'), lastInboundAt: at('2026-11-10T09:00:00Z') };
    const reasons = new Set([
      decideNudge(input({ contactStatus: 'removed' })),
      decideNudge(input({ subscription: 'pending' })),
      decideNudge(input({ subscription: 'unsubscribed' })),
      decideNudge(input({ suppressed: true })),
      decideNudge(input({ policy: 'off' })),
      decideNudge(input({ lastInboundAt: undefined })),
      decideNudge(input({ lastNudge: { windowOf: at('2026-01-15T09:00:00Z'), via: 'nudge' } })),
      decideNudge(input({ lastNudge: { windowOf: at('2026-01-15T09:00:00Z'), via: 'broadcast' } })),
      decideNudge(input({ now: at('2026-01-16T09:00:00Z') })),
      decideNudge(input({ now: at('2026-01-16T08:59:30Z') })),
      decideNudge(input({ quietHours: NIGHT, now: at('2026-01-16T22:00:00Z'), lastInboundAt: at('2026-01-15T22:30:00Z') })),
      decideNudge(input({ ...november, policy: 'worth-it' })),
    ].map(skipReason));
    expect([...reasons].sort()).to.deep.equal([...NUDGE_SKIP_REASONS].sort());
  });
});

describe('window keeper: estimates', () => {
  const NOW = at('2026-02-01T00:00:00Z');
  const since = at('2026-01-04T00:00:00Z'); // 28 days before: window starts seen whole span 27 days

  it('P(broadcast in window) is the prior without history or with less than a day of it', () => {
    expect(broadcastInWindowProbability(undefined, NOW)).to.equal(KEEPER_PRIORS.broadcastInWindow);
    expect(broadcastInWindowProbability({ since: at('2026-01-31T06:00:00Z'), times: [at('2026-01-31T07:00:00Z')] }, NOW)).to.equal(0.5);
  });

  it('P(broadcast in window) is the share of 24-hour windows that held one, blended with a day of prior', () => {
    expect(broadcastInWindowProbability(dailyBroadcasts(NOW), NOW)).to.be.closeTo(27.5 / 28, 1e-12);
    expect(broadcastInWindowProbability({ since, times: [] }, NOW)).to.be.closeTo(0.5 / 28, 1e-12);
    // 24 hourly broadcasts on one day: windows starting in the 47 hours before the last one hold one.
    const burst = Array.from({ length: 24 }, (_, h) => new Date(Date.UTC(2026, 0, 14, h)));
    expect(broadcastInWindowProbability({ since, times: burst }, NOW)).to.be.closeTo((47 + 12) / (28 * 24), 1e-12);
  });

  it('P(broadcast in window) ignores broadcasts before the period and after now', () => {
    const outside = [at('2025-12-01T00:00:00Z'), at('2026-02-05T00:00:00Z')];
    expect(broadcastInWindowProbability({ since, times: outside }, NOW)).to.equal(broadcastInWindowProbability({ since, times: [] }, NOW));
  });

  it('P(reply) is Laplace\'s rule: (replied + 1) / (sent + 2), with impossible counts clamped', () => {
    expect(replyProbability(undefined)).to.equal(0.5);
    expect(replyProbability({ sent: 0, replied: 0 })).to.equal(0.5);
    expect(replyProbability({ sent: 10, replied: 9 })).to.equal(10 / 12);
    expect(replyProbability({ sent: 3, replied: 0 })).to.equal(0.2);
    expect(replyProbability({ sent: 2, replied: 5 })).to.equal(replyProbability({ sent: 2, replied: 2 }));
    expect(replyProbability({ sent: -4, replied: -1 })).to.equal(0.5);
  });

  it('a keeper pass looks ahead its interval plus the nudge lead, and with quiet hours their longest length and a second lead', () => {
    expect(nudgeLookaheadMs({ intervalMs: MINUTE, nudgeBeforeCloseMs: 5 * MINUTE, quietHours: undefined })).to.equal(6 * MINUTE);
    expect(nudgeLookaheadMs({ intervalMs: MINUTE, nudgeBeforeCloseMs: 5 * MINUTE, quietHours: NIGHT })).to.equal(11 * MINUTE + 10 * HOUR);
  });

  it('the lookahead reaches the farthest a nudge can move: due just before the end of the longest quiet night', () => {
    // Fall-back night: quiet 20:00-06:00 UTC (10 h). A window closing 06:04 UTC has its nudge due 05:59,
    // moved to 19:55 the evening before; the last pass before that runs up to a minute earlier.
    const lastInboundAt = at('2026-10-24T06:04:00Z');
    const decision = decideNudge(input({ quietHours: NIGHT, now: at('2026-10-24T12:00:00Z'), lastInboundAt }));
    expect(decision).to.deep.include({ at: at('2026-10-24T19:55:00Z'), beforeQuietHours: true });
    const lastPassBefore = at('2026-10-24T19:55:00Z').getTime() - MINUTE;
    const closes = lastInboundAt.getTime() + DAY;
    expect(closes - lastPassBefore).to.equal(10 * HOUR + 10 * MINUTE);
    expect(closes - lastPassBefore).to.be.at.most(nudgeLookaheadMs({ intervalMs: MINUTE, nudgeBeforeCloseMs: 5 * MINUTE, quietHours: NIGHT }));
  });
});
