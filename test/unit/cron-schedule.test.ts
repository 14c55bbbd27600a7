import { expect } from 'chai';
import { parseSchedule } from '../../config/daily-runs.js';
import { dueSlot, nextSlots, slotsBetween } from '../../src/domain/cron-schedule.js';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const at = (s: string) => new Date(s);
const HOUR = 3_600_000;

/**
 * 2026's changes: Europe/Berlin springs forward on 29 March (02:00 CET -> 03:00 CEST, 01:00Z)
 * and falls back on 25 October (03:00 CEST -> 02:00 CET, 01:00Z). Australia/Sydney falls back
 * on 5 April (03:00 AEDT -> 02:00 AEST, 16:00Z the day before) and springs forward on 4 October
 * (02:00 AEST -> 03:00 AEDT, 16:00Z the day before). America/Santiago changes at midnight.
 */
describe('cron schedule: slots in a time zone, across DST changes (time injected)', () => {
  const dailyAt0230 = parseSchedule('30 2 * * *');

  describe('Europe/Berlin', () => {
    const tz = 'Europe/Berlin';

    it('02:30 on the spring-forward day runs once, at 03:00 CEST, the next valid time', () => {
      expect(iso(nextSlots(dailyAt0230, tz, at('2026-03-27T12:00:00Z'), 4))).to.deep.equal([
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
      ]);
    });

    it('02:30 on the fall-back day, which happens twice, runs once: at its first occurrence', () => {
      expect(iso(nextSlots(dailyAt0230, tz, at('2026-10-24T12:00:00Z'), 3))).to.deep.equal([
        '2026-10-25T00:30:00.000Z', // 02:30 CEST; 02:30 CET (01:30Z) does not run again
        '2026-10-26T01:30:00.000Z', // 02:30 CET
        '2026-10-27T01:30:00.000Z',
      ]);
      expect(iso(slotsBetween(dailyAt0230, tz, at('2026-10-24T23:00:00Z'), at('2026-10-25T23:00:00Z')))).to.deep.equal(['2026-10-25T00:30:00.000Z']);
    });

    it('09:00 stays 09:00 on the wall clock: 08:00Z in winter, 07:00Z in summer, one run a day', () => {
      const nine = parseSchedule('0 9 * * *');
      expect(iso(nextSlots(nine, tz, at('2026-03-28T00:00:00Z'), 3))).to.deep.equal(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z']);
      expect(iso(nextSlots(nine, tz, at('2026-10-24T00:00:00Z'), 3))).to.deep.equal(['2026-10-24T07:00:00.000Z', '2026-10-25T08:00:00.000Z', '2026-10-26T08:00:00.000Z']);
    });

    it('one run per day for a week around each change', () => {
      for (const from of ['2026-03-25T22:00:00Z', '2026-10-21T22:00:00Z']) {
        const slots = slotsBetween(dailyAt0230, tz, at(from), new Date(at(from).getTime() + 7 * 24 * HOUR));
        expect(slots, from).to.have.length(7);
        expect(new Set(slots.map((s) => new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(s))).size, from).to.equal(7);
      }
    });

    it('an hour wildcard follows real time: every 30 minutes through both changes, nothing doubled', () => {
      const halfHourly = parseSchedule('*/30 * * * *');
      expect(iso(slotsBetween(halfHourly, tz, at('2026-10-24T23:45:00Z'), at('2026-10-25T02:15:00Z')))).to.deep.equal([
        '2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', // 02:00, 02:30 CEST
        '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z', // 02:00, 02:30 CET
        '2026-10-25T02:00:00.000Z',
      ]);
      expect(iso(slotsBetween(halfHourly, tz, at('2026-03-29T00:15:00Z'), at('2026-03-29T01:45:00Z')))).to.deep.equal([
        '2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z', // 01:30 CET, 03:00, 03:30 CEST
      ]);
    });

    it('the due slot at a tick: the latest within the grace period, none when it is older', () => {
      expect(dueSlot(dailyAt0230, tz, at('2026-03-29T01:00:00Z'), HOUR)?.toISOString()).to.equal('2026-03-29T01:00:00.000Z');
      expect(dueSlot(dailyAt0230, tz, at('2026-03-29T01:59:59Z'), HOUR)?.toISOString()).to.equal('2026-03-29T01:00:00.000Z');
      expect(dueSlot(dailyAt0230, tz, at('2026-03-29T02:00:01Z'), HOUR)).to.equal(undefined);
      expect(dueSlot(dailyAt0230, tz, at('2026-03-29T00:59:59Z'), HOUR)).to.equal(undefined);
      // On fall-back, the second 02:30 (01:30Z) finds no new slot: the first one's run is the day's run.
      expect(dueSlot(dailyAt0230, tz, at('2026-10-25T01:30:00Z'), HOUR)?.toISOString()).to.equal('2026-10-25T00:30:00.000Z');
      expect(dueSlot(dailyAt0230, tz, at('2026-10-25T01:45:00Z'), HOUR)).to.equal(undefined);
    });
  });

  describe('Australia/Sydney (southern hemisphere: summer time from October to April)', () => {
    const tz = 'Australia/Sydney';

    it('02:30 on the fall-back day in April runs once, at its first occurrence (AEDT)', () => {
      expect(iso(nextSlots(dailyAt0230, tz, at('2026-04-03T00:00:00Z'), 3))).to.deep.equal([
        '2026-04-03T15:30:00.000Z', // 4 April 02:30 AEDT
        '2026-04-04T15:30:00.000Z', // 5 April 02:30 AEDT; 02:30 AEST (16:30Z) does not run again
        '2026-04-05T16:30:00.000Z', // 6 April 02:30 AEST
      ]);
    });

    it('02:30 on the spring-forward day in October runs once, at 03:00 AEDT', () => {
      expect(iso(nextSlots(dailyAt0230, tz, at('2026-10-02T00:00:00Z'), 3))).to.deep.equal([
        '2026-10-02T16:30:00.000Z', // 3 October 02:30 AEST
        '2026-10-03T16:00:00.000Z', // 4 October: 02:30 does not exist, 03:00 AEDT
        '2026-10-04T15:30:00.000Z', // 5 October 02:30 AEDT
      ]);
    });
  });

  describe('America/Santiago (the clocks change at midnight)', () => {
    const tz = 'America/Santiago';

    it('midnight on the day it does not exist runs at 01:00; a repeated 23:30 runs once', () => {
      expect(iso(nextSlots(parseSchedule('0 0 * * *'), tz, at('2026-09-04T12:00:00Z'), 3))).to.deep.equal([
        '2026-09-05T04:00:00.000Z', // 00:00 -04
        '2026-09-06T04:00:00.000Z', // 00:00 does not exist: 01:00 -03
        '2026-09-07T03:00:00.000Z', // 00:00 -03
      ]);
      expect(iso(nextSlots(parseSchedule('30 23 * * *'), tz, at('2026-04-04T12:00:00Z'), 2))).to.deep.equal([
        '2026-04-05T02:30:00.000Z', // 4 April 23:30 -03; again at 23:30 -04 (03:30Z): not run
        '2026-04-06T03:30:00.000Z',
      ]);
    });
  });

  it('reads node-cron syntax: seconds, names, steps, L, and nicknames', () => {
    const tz = 'Europe/Berlin';
    expect(iso(nextSlots(parseSchedule('15 0 9 * * mon-fri'), tz, at('2026-11-20T12:00:00Z'), 2))).to.deep.equal(['2026-11-23T08:00:15.000Z', '2026-11-24T08:00:15.000Z']); // Friday, then Monday
    expect(iso(nextSlots(parseSchedule('0 18 L * *'), tz, at('2026-02-01T00:00:00Z'), 2))).to.deep.equal(['2026-02-28T17:00:00.000Z', '2026-03-31T16:00:00.000Z']);
    expect(iso(nextSlots(parseSchedule('@daily'), tz, at('2026-11-20T12:00:00Z'), 1))).to.deep.equal(['2026-11-20T23:00:00.000Z']);
    expect(parseSchedule('@hourly').everyHour).to.equal(true);
    expect(parseSchedule('0 */2 * * *').everyHour).to.equal(true);
    expect(parseSchedule('0 9,18 * * *').everyHour).to.equal(false);
    expect(() => parseSchedule('61 * * * *')).to.throw(/61 is a invalid expression for minute/);
  });
});
