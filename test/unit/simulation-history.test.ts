import { expect } from 'chai';
import { measureHistory, publishingOf, type HistoryRecords } from '../../src/domain/simulation/history.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SINCE = Date.parse('2026-03-02T00:00:00Z'); // a Monday
const UNTIL = SINCE + 28 * DAY;
const at = (t: number) => new Date(t);

function records(fields: Partial<HistoryRecords>): HistoryRecords {
  return { since: at(SINCE), until: at(UNTIL), timeZone: 'UTC', broadcasts: [], deliveries: [], nudges: [], inbound: [], ...fields };
}

describe('--from-history measurements (measureHistory)', () => {
  it('tells daily, weekday and irregular publishing apart, with the median time of day', () => {
    const daily = Array.from({ length: 28 }, (_, d) => SINCE + d * DAY + 9 * HOUR + (d % 3) * MINUTE);
    expect(publishingOf(daily, SINCE, UNTIL, 'UTC')).to.deep.equal({ kind: 'daily', time: { hour: 9, minute: 1 } });
    const weekdays = daily.filter((t) => ![0, 6].includes(new Date(t).getUTCDay()));
    expect(publishingOf(weekdays, SINCE, UNTIL, 'UTC')).to.deep.equal({ kind: 'weekdays', time: { hour: 9, minute: 1 } });
    // In Berlin, 08:00 UTC is 09:00 in winter (until 29 March) and 10:00 in summer.
    expect(publishingOf(daily.slice(0, 20).map((t) => t - HOUR), SINCE, SINCE + 20 * DAY, 'Europe/Berlin')).to.deep.equal({ kind: 'daily', time: { hour: 9, minute: 1 } });
    const bursts = [SINCE + HOUR, SINCE + 2 * HOUR, SINCE + 10 * DAY, SINCE + 11 * DAY, SINCE + 20 * DAY, SINCE + 20 * DAY + HOUR, SINCE + 27 * DAY];
    expect(publishingOf(bursts, SINCE, UNTIL, 'UTC')).to.deep.equal({ kind: 'irregular', meanHours: 96 });
    expect(publishingOf([SINCE], SINCE, UNTIL, 'UTC')).to.equal(undefined);
  });

  it('counts a news item answered before the next message and within 24 hours, and nudges as the keeper recorded them', () => {
    const t0 = SINCE + DAY;
    const measured = measureHistory(records({
      broadcasts: [at(t0), at(t0 + DAY)],
      deliveries: [
        { contactKey: 'a', at: at(t0) }, { contactKey: 'a', at: at(t0 + DAY) }, // answered 10 min after the first; the second not
        { contactKey: 'b', at: at(t0) }, // answered only after the nudge: the nudge's answer
        { contactKey: 'c', at: at(t0) }, // answered after 25 hours: too late
      ],
      nudges: [{ contactKey: 'b', sentAt: at(t0 + 23 * HOUR), repliedAt: at(t0 + 23 * HOUR + 20 * MINUTE) }, { contactKey: 'c', sentAt: at(t0 + 2 * DAY) }],
      inbound: [
        { contactKey: 'a', at: at(t0 + 10 * MINUTE) }, { contactKey: 'a', at: at(t0 + 11 * MINUTE) },
        { contactKey: 'b', at: at(t0 + 23 * HOUR + 20 * MINUTE) },
        { contactKey: 'c', at: at(t0 + 25 * HOUR) },
      ],
    }));
    expect(measured.broadcasts).to.equal(2);
    expect(measured.replyToNews).to.deep.equal({ value: 1 / 4, of: 4 });
    expect(measured.replyToNudge).to.deep.equal({ value: 1 / 2, of: 2 });
    expect(measured.replyDelayMinutes).to.deep.equal({ value: 15, of: 2 });
  });

  it('leaves out what it has no case for', () => {
    const measured = measureHistory(records({}));
    expect(measured).to.deep.equal({ since: new Date(SINCE).toISOString(), until: new Date(UNTIL).toISOString(), broadcasts: 0 });
  });
});
