import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import {
  checkHeader, checkRow, decideImport, type ImportHeader, type ImportRejectReason, type ImportRow, type StoredForImport,
} from '../domain/contact-import.js';
import { PermanentError } from '../domain/errors.js';
import { suppressionNames, type Contact, type ImportedContact, type ImportUpdate, type Subscription } from '../store/contact-repository.js';
import { identityNames } from '../store/identity-repository.js';
import type { Services } from './deps.js';

export interface ImportRequest {
  topic: string;
  /** How the consent was collected (`--consent-source`). */
  consentSource: string;
  dryRun: boolean;
}

export type RowOutcome = 'imported' | 'updated' | 'unchanged' | 'rejected';

/** One row worth reporting: a rejected one, or one subscribed again after an opt-out. */
export interface RowReport {
  line: number;
  outcome: RowOutcome;
  reason?: ImportRejectReason;
  message: string;
}

export interface ImportSummary {
  topic: string;
  consentSource: string;
  dryRun: boolean;
  rows: number;
  imported: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rejectedByReason: Partial<Record<ImportRejectReason, number>>;
  /** The file stopped being CSV here; the rows before it were handled. */
  error?: { line: number; message: string };
}

export interface ImportOptions {
  onRow?(report: RowReport): void;
  onProgress?(rows: number): void;
}

/** Rows read, decided and written together. */
const CHUNK = 500;
/** Rounds of deciding again for rows whose contact changed between the read and the write. */
const MAX_ROUNDS = 5;

interface Item {
  line: number;
  row: ImportRow;
}

interface Decided {
  line: number;
  outcome: RowOutcome;
  reason?: ImportRejectReason;
  note?: string;
  key: string;
}

function subscriptionOf(row: ImportRow, request: ImportRequest, now: Date): Subscription {
  return {
    state: 'subscribed', changedAt: now, source: 'import',
    consent: {
      source: 'import', collectedBy: request.consentSource, wording: row.consentText, at: row.consentAt,
      ...(row.language ? { language: row.language } : {}), ...(row.consentRef ? { ref: row.consentRef } : {}),
    },
  };
}

/**
 * Decides a chunk's rows in file order against the contacts and suppressions as read (and the
 * rows before them), then, unless a dry run, writes them: lifted suppressions first, new
 * contacts with unique inserts, known ones with updates guarded by what was read. Rows whose
 * contact changed in between (a STOP, another import) are decided again.
 */
async function applyChunk(services: Services, request: ImportRequest, items: readonly Item[], now: Date, round = 1): Promise<Decided[]> {
  const { contacts, suppressions, people } = services;
  const persons = items.map((i) => ({ phone: i.row.phone, userId: i.row.userId }));
  // A real run links the rows' identities (a row naming the number and the user id of two
  // contacts merges them); a dry run only looks.
  const keys = (request.dryRun ? await people.keysOf(persons) : await people.resolve(persons, now)) as string[];
  const read = new Map((await contacts.getMany(keys)).map((c) => [c.key, c]));
  // Suppressed under any name: the row's number or user id, the contact's key, its identities.
  const namesOf = new Map<string, string[]>();
  items.forEach((item, index) => {
    const key = keys[index] as string;
    const contact = read.get(key);
    namesOf.set(key, [...new Set([...(namesOf.get(key) ?? []), key, ...identityNames(item.row), ...(contact ? suppressionNames(contact) : [])])]);
  });
  const suppressionsByName = await suppressions.findMany([...new Set([...namesOf.values()].flat())]);
  const suppressed = new Map<string, { at: Date }>();
  for (const [key, names] of namesOf) {
    const latest = names.map((n) => suppressionsByName.get(n)).filter((x) => x !== undefined).sort((a, b) => b.at.getTime() - a.at.getTime())[0];
    if (latest) suppressed.set(key, latest);
  }
  const current = new Map<string, Contact>(read);
  const inserts = new Map<string, ImportedContact>();
  const updates = new Map<string, ImportUpdate>();
  const lifts = new Set<string>();
  const decided: Decided[] = [];

  items.forEach((item, index) => {
    const key = keys[index] as string;
    const contact = current.get(key);
    const subscription = contact?.subscriptions[request.topic];
    const suppression = suppressed.get(key);
    const stored: StoredForImport = {
      exists: contact !== undefined,
      ...(contact ? { status: contact.status } : {}),
      ...(subscription ? { subscription: { state: subscription.state, changedAt: subscription.changedAt } } : {}),
      ...(suppression ? { suppressedAt: suppression.at } : {}),
    };
    const decision = decideImport(stored, item.row);
    if (decision.kind === 'reject') return decided.push({ line: item.line, outcome: 'rejected', reason: decision.reason, note: decision.message, key });
    if (decision.kind === 'unchanged') return decided.push({ line: item.line, outcome: 'unchanged', key });
    const next = subscriptionOf(item.row, request, now);
    if (decision.liftSuppression) {
      lifts.add(key);
      suppressed.delete(key);
    }
    const before = read.get(key);
    if (!before) {
      const created = inserts.get(key) ?? { key, ...(item.row.phone ? { phone: item.row.phone } : {}), ...(item.row.userId ? { userId: item.row.userId } : {}), subscription: next };
      inserts.set(key, { ...created, subscription: next, ...(item.row.language && !created.language ? { language: item.row.language } : {}), ...(item.row.name && !created.name ? { name: item.row.name } : {}) });
    } else {
      const fill = updates.get(key)?.fill ?? {};
      updates.set(key, {
        key, subscription: next,
        read: { status: before.status, ...(before.subscriptions[request.topic] ? { state: before.subscriptions[request.topic]?.state, changedAt: before.subscriptions[request.topic]?.changedAt } : {}) },
        fill: { ...fill, ...(item.row.language && !before.language && !fill.language ? { language: item.row.language } : {}), ...(item.row.name && !before.profileName && !fill.profileName ? { profileName: item.row.name } : {}) },
      });
    }
    current.set(key, { ...(contact ?? { key, status: 'active', sentSinceReply: 0, unansweredTemplates: 0, createdAt: now }), subscriptions: { ...(contact?.subscriptions ?? {}), [request.topic]: next } } as Contact);
    decided.push({ line: item.line, outcome: before ? 'updated' : 'imported', key, ...(decision.note ? { note: decision.note } : {}) });
  });
  if (request.dryRun) return decided;

  // The suppression goes first: a run stopped after it and before the subscription finds the
  // contact unsubscribed since before the consent, and subscribes them the same way.
  await suppressions.liftMany([...lifts].flatMap((key) => namesOf.get(key) ?? [key]));
  const insertList = [...inserts.values()];
  const inserted = await contacts.insertImported(request.topic, insertList, now);
  const applied = await contacts.subscribeImported(request.topic, [...updates.values()], now);
  const conflicts = new Set([...insertList.filter((_, i) => !inserted[i]).map((c) => c.key), ...[...updates.keys()].filter((k) => !applied.has(k))]);
  if (conflicts.size === 0) return decided;
  if (round >= MAX_ROUNDS) throw new PermanentError(`${conflicts.size} contacts kept changing while they were imported; run the import again`, { code: 'import-conflict' });
  const again = items.filter((_, i) => conflicts.has(keys[i] as string));
  const redone = new Map((await applyChunk(services, request, again, now, round + 1)).map((d) => [d.line, d]));
  return decided.map((d) => redone.get(d.line) ?? d);
}

/**
 * Imports a CSV of contacts who gave consent elsewhere into `topic`, streamed: the header
 * (any order), then each row checked on its own (a broken row is reported with its line and
 * reason and the others go on), decided against the stored contact and its suppression, and
 * written in chunks. Imported contacts have no window until they write. Running the same file
 * again changes nothing; a run stopped half way and run again ends as one run would.
 */
export async function importContacts(services: Services, input: Readable, request: ImportRequest, options: ImportOptions = {}): Promise<ImportSummary> {
  if (!services.conversation.topics.some((t) => t.id === request.topic)) {
    throw new PermanentError(`--topic: unknown topic ${JSON.stringify(request.topic)} (known: ${services.conversation.topics.map((t) => t.id).join(', ')})`, { code: 'invalid-input' });
  }
  const summary: ImportSummary = { topic: request.topic, consentSource: request.consentSource, dryRun: request.dryRun, rows: 0, imported: 0, updated: 0, unchanged: 0, rejected: 0, rejectedByReason: {} };
  const reject = (line: number, reason: ImportRejectReason, message: string) => {
    summary.rejected += 1;
    summary.rejectedByReason[reason] = (summary.rejectedByReason[reason] ?? 0) + 1;
    options.onRow?.({ line, outcome: 'rejected', reason, message });
  };
  const now = services.clock.now();
  const flush = async (chunk: Item[]): Promise<void> => {
    for (const d of await applyChunk(services, request, chunk, now)) {
      if (d.outcome === 'rejected') reject(d.line, d.reason as ImportRejectReason, d.note ?? '');
      else {
        summary[d.outcome] += 1;
        if (d.note) options.onRow?.({ line: d.line, outcome: d.outcome, message: d.note });
      }
    }
    options.onProgress?.(summary.rows);
  };

  // A record the parser cannot read (a stray quote) is skipped and noted; reading stops there,
  // since what follows a broken quote cannot be told apart reliably.
  let broken: { line: number; message: string } | undefined;
  const parser = input.pipe(parse({
    info: true, relax_column_count: true, skip_empty_lines: true, bom: true, skip_records_with_error: true,
    on_skip: (err) => {
      broken ??= { line: typeof err?.lines === 'number' ? err.lines : 0, message: (err?.message ?? 'unreadable').split(' at line')[0] ?? '' };
    },
  }));
  let header: ImportHeader | undefined;
  let chunk: Item[] = [];
  let lastLine = 0;
  let lastEmpty = 0;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number; empty_lines: number } }>) {
    const line = lastLine + 1 + (info.empty_lines - lastEmpty);
    [lastLine, lastEmpty] = [info.lines, info.empty_lines];
    if (broken && info.lines >= broken.line) break;
    if (!header) {
      const checked = checkHeader(record);
      if (!checked.ok) throw new PermanentError(`line ${line}: ${checked.message}`, { code: 'invalid-input' });
      header = checked.header;
      continue;
    }
    summary.rows += 1;
    const row = checkRow(record, header, now);
    if (!row.ok) reject(line, row.reason, row.message);
    else chunk.push({ line, row: row.row });
    if (chunk.length >= CHUNK) {
      await flush(chunk);
      chunk = [];
    }
  }
  if (broken) {
    await flush(chunk);
    summary.error = { line: broken.line, message: `not valid CSV at line ${broken.line} (${broken.message}): nothing from there on was read` };
    return summary;
  }
  if (!header) throw new PermanentError('the file is empty: expected a header row (phone or bsuid, consent_at, consent_text)', { code: 'invalid-input' });
  await flush(chunk);
  return summary;
}
