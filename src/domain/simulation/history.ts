import { WINDOW_MS } from '../conversation.js';
import { offsetAt } from '../cron-schedule.js';
import type { PublishingPattern } from './publishing.js';

/**
 * What `--from-history` measures from the stored records of a topic, no message content
 * needed: how often the topic publishes, how many news messages and nudges get an answer, and
 * how long the answer takes. Pure: the records are read in src/app and passed in.
 */
export interface HistoryRecords {
  readonly since: Date;
  readonly until: Date;
  readonly timeZone: string;
  /** When each of the topic's broadcasts was created. */
  readonly broadcasts: readonly Date[];
  /** News messages that went out (session or template): to whom and when. */
  readonly deliveries: readonly { readonly contactKey: string; readonly at: Date }[];
  /** Nudges sent: to whom, when, and the contact's first message after it (the keeper's record). */
  readonly nudges: readonly { readonly contactKey: string; readonly sentAt: Date; readonly repliedAt?: Date }[];
  /** Inbound messages: from whom and when. */
  readonly inbound: readonly { readonly contactKey: string; readonly at: Date }[];
}

/** A measured share with how many cases it was measured on. */
export interface MeasuredShare {
  readonly value: number;
  readonly of: number;
}

export interface MeasuredHistory {
  readonly since: string;
  readonly until: string;
  readonly broadcasts: number;
  /** Undefined with fewer than two broadcasts. */
  readonly publishing?: PublishingPattern;
  /** Share of news messages answered before the next message to the contact and within 24 hours. */
  readonly replyToNews?: MeasuredShare;
  /** Share of nudges answered (the keeper's own record of it). */
  readonly replyToNudge?: MeasuredShare;
  /** Mean minutes from a message to its answer, over the answered ones. */
  readonly replyDelayMinutes?: MeasuredShare;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A pattern holds when the topic published on at least this share of its days (daily, or weekdays). */
const REGULAR_SHARE = 0.8;

/** Measures the records; a figure without any case to measure it on is left out. */
export function measureHistory(records: HistoryRecords): MeasuredHistory {
  const broadcasts = records.broadcasts.map((d) => d.getTime()).filter((t) => t >= records.since.getTime() && t < records.until.getTime()).sort((a, b) => a - b);
  const publishing = publishingOf(broadcasts, records.since.getTime(), records.until.getTime(), records.timeZone);
  const replies = newsReplies(records);
  const nudged = records.nudges.length;
  const nudgeReplies = records.nudges.filter((n) => n.repliedAt !== undefined);
  const delays = [...replies.delays, ...nudgeReplies.map((n) => (n.repliedAt as Date).getTime() - n.sentAt.getTime()).filter((d) => d >= 0 && d <= WINDOW_MS)];
  return {
    since: records.since.toISOString(),
    until: records.until.toISOString(),
    broadcasts: broadcasts.length,
    ...(publishing ? { publishing } : {}),
    ...(replies.delivered > 0 ? { replyToNews: { value: replies.answered / replies.delivered, of: replies.delivered } } : {}),
    ...(nudged > 0 ? { replyToNudge: { value: nudgeReplies.length / nudged, of: nudged } } : {}),
    ...(delays.length > 0 ? { replyDelayMinutes: { value: delays.reduce((a, b) => a + b, 0) / delays.length / 60_000, of: delays.length } } : {}),
  };
}

/**
 * Daily or weekdays at the median time of day when the topic published on at least 80 % of
 * those days (and at most about once a day), else irregular with the mean interval.
 */
export function publishingOf(times: readonly number[], since: number, until: number, timeZone: string): PublishingPattern | undefined {
  if (times.length < 2) return undefined;
  const local = times.map((t) => t + offsetAt(timeZone, t));
  const days = new Set(local.map((w) => Math.floor(w / DAY_MS)));
  const firstDay = Math.floor((since + offsetAt(timeZone, since)) / DAY_MS);
  const lastDay = Math.floor((until - 1 + offsetAt(timeZone, until - 1)) / DAY_MS);
  let weekdays = 0;
  let weekdaysCovered = 0;
  let weekendCovered = 0;
  for (let day = firstDay; day <= lastDay; day += 1) {
    const weekday = new Date(day * DAY_MS).getUTCDay();
    const working = weekday >= 1 && weekday <= 5;
    if (working) weekdays += 1;
    if (days.has(day)) {
      if (working) weekdaysCovered += 1;
      else weekendCovered += 1;
    }
  }
  const allDays = lastDay - firstDay + 1;
  const minutes = local.map((w) => Math.floor((w % DAY_MS) / 60_000)).sort((a, b) => a - b);
  const median = minutes[Math.floor(minutes.length / 2)] as number;
  const time = { hour: Math.floor(median / 60), minute: median % 60 };
  const aboutOnceADay = times.length <= days.size * 1.25;
  if (aboutOnceADay && days.size >= REGULAR_SHARE * allDays) return { kind: 'daily', time };
  if (aboutOnceADay && weekdays > 0 && weekdaysCovered >= REGULAR_SHARE * weekdays && weekendCovered <= (1 - REGULAR_SHARE) * (allDays - weekdays)) return { kind: 'weekdays', time };
  return { kind: 'irregular', meanHours: (until - since) / times.length / 3_600_000 };
}

/**
 * News messages answered: an inbound message from the contact after the delivery, before the
 * next message to them (news or nudge), and within 24 hours.
 */
function newsReplies(records: HistoryRecords): { delivered: number; answered: number; delays: number[] } {
  const outbound = new Map<string, { at: number; news: boolean }[]>();
  const add = (key: string, at: number, news: boolean) => {
    let list = outbound.get(key);
    if (!list) outbound.set(key, (list = []));
    list.push({ at, news });
  };
  for (const d of records.deliveries) add(d.contactKey, d.at.getTime(), true);
  for (const n of records.nudges) add(n.contactKey, n.sentAt.getTime(), false);
  const inbound = new Map<string, number[]>();
  for (const m of records.inbound) {
    let list = inbound.get(m.contactKey);
    if (!list) inbound.set(m.contactKey, (list = []));
    list.push(m.at.getTime());
  }
  let delivered = 0;
  let answered = 0;
  const delays: number[] = [];
  for (const [key, list] of outbound) {
    list.sort((a, b) => a.at - b.at);
    const messages = (inbound.get(key) ?? []).sort((a, b) => a - b);
    let m = 0;
    list.forEach((message, k) => {
      if (!message.news) return;
      delivered += 1;
      const until = Math.min(list[k + 1]?.at ?? Infinity, message.at + WINDOW_MS);
      while (m < messages.length && (messages[m] as number) <= message.at) m += 1;
      const reply = messages[m];
      if (reply !== undefined && reply <= until) {
        answered += 1;
        delays.push(reply - message.at);
      }
    });
  }
  return { delivered, answered, delays };
}
