import { expect } from 'chai';
import {
  currentOrNextQuietPeriod, formatQuietHours, isQuiet, longestQuietPeriodMs, parseQuietHours, quietPeriodAt, type QuietHours,
} from '../../src/domain/quiet-hours.js';

const BERLIN = 'Europe/Berlin';
const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);

function hours(text: string): QuietHours {
  const parsed = parseQuietHours(text);
  if (!parsed) throw new Error(`no quiet hours in ${text}`);
  return parsed;
}

function period(text: string, instant: string, timeZone = BERLIN): { start: string; end: string } | undefined {
  const p = quietPeriodAt(hours(text), at(instant), timeZone);
  return p && { start: p.start.toISOString(), end: p.end.toISOString() };
}

describe('quiet hours', () => {
  describe('parseQuietHours', () => {
    it('reads HH:MM-HH:MM, with or without spaces and leading zeros, and 24:00 as an end', () => {
      expect(parseQuietHours('22:00-07:00')).to.deep.equal({ start: { hour: 22, minute: 0 }, end: { hour: 7, minute: 0 } });
      expect(parseQuietHours(' 7:05 - 9:30 ')).to.deep.equal({ start: { hour: 7, minute: 5 }, end: { hour: 9, minute: 30 } });
      expect(parseQuietHours('22:00-24:00')).to.deep.equal({ start: { hour: 22, minute: 0 }, end: { hour: 0, minute: 0 } });
      expect(formatQuietHours(hours('7:05-9:30'))).to.equal('07:05-09:30');
    });

    it('an empty value means no quiet hours', () => {
      expect(parseQuietHours('')).to.equal(undefined);
      expect(parseQuietHours('   ')).to.equal(undefined);
      expect(isQuiet(undefined, at('2026-01-15T23:00:00Z'), BERLIN)).to.equal(false);
      expect(currentOrNextQuietPeriod(undefined, at('2026-01-15T23:00:00Z'), BERLIN)).to.equal(undefined);
      expect(longestQuietPeriodMs(undefined)).to.equal(0);
    });

    it('refuses other shapes, times that do not exist and an empty period, saying why', () => {
      expect(() => parseQuietHours('22:00')).to.throw(RangeError, 'is not HH:MM-HH:MM');
      expect(() => parseQuietHours('10pm-7am')).to.throw(RangeError, 'is not HH:MM-HH:MM');
      expect(() => parseQuietHours('25:00-07:00')).to.throw(RangeError, '"25:00" is not a time of day');
      expect(() => parseQuietHours('22:60-07:00')).to.throw(RangeError, '"22:60" is not a time of day');
      expect(() => parseQuietHours('24:00-07:00')).to.throw(RangeError, '"24:00" is not a time of day');
      expect(() => parseQuietHours('22:00-22:00')).to.throw(RangeError, 'start and end are the same time');
    });
  });

  describe('a period within one day (13:00-14:00, Berlin in winter, UTC+1)', () => {
    const midday = hours('13:00-14:00');

    it('is quiet from the start minute up to, not including, the end minute', () => {
      expect(isQuiet(midday, at('2026-01-15T11:59:59.999Z'), BERLIN)).to.equal(false);
      expect(isQuiet(midday, at('2026-01-15T12:00:00.000Z'), BERLIN)).to.equal(true);
      expect(isQuiet(midday, at('2026-01-15T12:59:59.999Z'), BERLIN)).to.equal(true);
      expect(isQuiet(midday, at('2026-01-15T13:00:00.000Z'), BERLIN)).to.equal(false);
    });

    it('names the current period inside it, and the next one outside it', () => {
      expect(quietPeriodAt(midday, at('2026-01-15T12:30:00Z'), BERLIN)).to.deep.equal({ start: at('2026-01-15T12:00:00Z'), end: at('2026-01-15T13:00:00Z') });
      expect(quietPeriodAt(midday, at('2026-01-15T10:00:00Z'), BERLIN)).to.equal(undefined);
      expect(currentOrNextQuietPeriod(midday, at('2026-01-15T10:00:00Z'), BERLIN)).to.deep.equal({ start: at('2026-01-15T12:00:00Z'), end: at('2026-01-15T13:00:00Z') });
      expect(currentOrNextQuietPeriod(midday, at('2026-01-15T13:00:00Z'), BERLIN)).to.deep.equal({ start: at('2026-01-16T12:00:00Z'), end: at('2026-01-16T13:00:00Z') });
    });

    it('reads the clock of the time zone given', () => {
      expect(isQuiet(midday, at('2026-01-15T13:30:00Z'), 'UTC')).to.equal(true);
      expect(isQuiet(midday, at('2026-01-15T13:30:00Z'), BERLIN)).to.equal(false);
      expect(isQuiet(midday, at('2026-01-15T18:30:00Z'), 'America/New_York')).to.equal(true);
    });
  });

  describe('a period wrapping midnight (22:00-07:00)', () => {
    const night = hours('22:00-07:00');

    it('runs from 22:00 one day to 07:00 the next, seen from either side of midnight', () => {
      const expected = { start: '2026-01-15T21:00:00.000Z', end: '2026-01-16T06:00:00.000Z' };
      expect(period('22:00-07:00', '2026-01-15T21:00:00Z')).to.deep.equal(expected);
      expect(period('22:00-07:00', '2026-01-15T23:30:00Z')).to.deep.equal(expected);
      expect(period('22:00-07:00', '2026-01-16T05:59:59Z')).to.deep.equal(expected);
      expect(isQuiet(night, at('2026-01-15T20:59:59Z'), BERLIN)).to.equal(false);
      expect(isQuiet(night, at('2026-01-16T06:00:00Z'), BERLIN)).to.equal(false);
    });

    it('outside, the next period is tonight', () => {
      expect(currentOrNextQuietPeriod(night, at('2026-01-16T10:00:00Z'), BERLIN)).to.deep.equal({ start: at('2026-01-16T21:00:00Z'), end: at('2026-01-17T06:00:00Z') });
    });

    it('lasts 8 hours on the night the clocks spring forward (2026-03-29) and 10 on the night they fall back (2026-10-25)', () => {
      expect(period('22:00-07:00', '2026-03-29T03:00:00Z')).to.deep.equal({ start: '2026-03-28T21:00:00.000Z', end: '2026-03-29T05:00:00.000Z' });
      expect(period('22:00-07:00', '2026-10-25T03:00:00Z')).to.deep.equal({ start: '2026-10-24T20:00:00.000Z', end: '2026-10-25T06:00:00.000Z' });
    });

    it('uses the offset in force at the instant, not the one before the change', () => {
      // 05:30 UTC on 2026-03-29 is 07:30 summer time (not quiet), though 06:30 winter time (quiet).
      expect(isQuiet(night, at('2026-03-29T05:30:00Z'), BERLIN)).to.equal(false);
      // 05:30 UTC on 2026-10-25 is 06:30 winter time (quiet), though 07:30 summer time.
      expect(isQuiet(night, at('2026-10-25T05:30:00Z'), BERLIN)).to.equal(true);
    });

    it('its longest possible length is the clock length plus an hour of clock change', () => {
      expect(longestQuietPeriodMs(night)).to.equal(10 * HOUR);
      expect(longestQuietPeriodMs(hours('13:00-14:00'))).to.equal(2 * HOUR);
    });
  });

  describe('a boundary in the hour the clocks change', () => {
    it('a start the clock skips (02:30 on 2026-03-29) begins when the clock jumps to 03:00', () => {
      expect(period('02:30-06:00', '2026-03-29T01:00:00Z')).to.deep.equal({ start: '2026-03-29T01:00:00.000Z', end: '2026-03-29T04:00:00.000Z' });
      expect(isQuiet(hours('02:30-06:00'), at('2026-03-29T00:59:59Z'), BERLIN)).to.equal(false);
    });

    it('an end the clock skips ends when the clock jumps over it', () => {
      expect(period('22:00-02:30', '2026-03-29T00:30:00Z')).to.deep.equal({ start: '2026-03-28T21:00:00.000Z', end: '2026-03-29T01:00:00.000Z' });
    });

    it('a start the clock shows twice (02:30 on 2026-10-25) begins at the first, an end at the second', () => {
      expect(period('02:30-06:00', '2026-10-25T00:30:00Z')).to.deep.equal({ start: '2026-10-25T00:30:00.000Z', end: '2026-10-25T05:00:00.000Z' });
      expect(isQuiet(hours('02:30-06:00'), at('2026-10-25T00:29:59Z'), BERLIN)).to.equal(false);
      expect(period('22:00-02:30', '2026-10-25T01:29:59Z')).to.deep.equal({ start: '2026-10-24T20:00:00.000Z', end: '2026-10-25T01:30:00.000Z' });
      expect(isQuiet(hours('22:00-02:30'), at('2026-10-25T01:30:00Z'), BERLIN)).to.equal(false);
    });

    it('periods that touch after the change count as one', () => {
      // 03:00-02:30: the period of 2026-03-28 ends when the clock jumps over 02:30, which is 03:00, when the next one starts.
      expect(period('03:00-02:30', '2026-03-29T01:00:00Z')).to.deep.equal({ start: '2026-03-28T02:00:00.000Z', end: '2026-03-30T00:30:00.000Z' });
    });
  });

  it('gives the right answers whatever time zone the process itself runs in', () => {
    // 2026-03-08 is the night New York's clocks jump from 02:00 to 03:00, and 01:45 UTC is 02:45
    // in Berlin: a Berlin reading made with the process's local-time setters lands in New York's
    // gap. These days are asked about nowhere else in this file, so nothing is remembered from before.
    const previous = process.env.TZ;
    try {
      process.env.TZ = 'America/New_York';
      expect(isQuiet(hours('02:45-03:15'), at('2026-03-08T01:30:00Z'), BERLIN)).to.equal(false);
      expect(period('02:45-03:15', '2026-03-08T01:50:00Z')).to.deep.equal({ start: '2026-03-08T01:45:00.000Z', end: '2026-03-08T02:15:00.000Z' });
      // 2026-11-01, New York's clocks fall back: 06:30 UTC is 07:30 in Berlin.
      expect(period('07:00-08:00', '2026-11-01T06:30:00Z')).to.deep.equal({ start: '2026-11-01T06:00:00.000Z', end: '2026-11-01T07:00:00.000Z' });
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });
});
