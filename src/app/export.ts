import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { ConfigError, PermanentError } from '../domain/errors.js';
import { neutralizeFormula } from '../domain/spreadsheet-cell.js';
import type { SubscriptionState } from '../domain/conversation.js';
import type { BroadcastStatus } from '../store/broadcast-repository.js';
import type { Contact, ContactSelection, ContactStatus } from '../store/contact-repository.js';
import { TERMINAL_STATES, type DeliveryState } from '../store/delivery-repository.js';
import { pseudonym } from '../store/pseudonyms.js';
import type { Services } from './deps.js';
import {
  BROADCAST_COLUMNS, broadcastRecord, contactColumns, contactRecord, csvRow, DELIVERY_COLUMNS, deliveryRecord,
  plainNaming, pseudonymNaming, type ContactNaming, type ExportRecord,
} from './export-records.js';
import { broadcastReport } from './publish.js';

export const EXPORT_KINDS = ['contacts', 'deliveries', 'broadcasts'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];
export const EXPORT_FORMATS = ['csv', 'ndjson', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const CONTACT_STATUSES: readonly string[] = ['active', 'lapsed', 'removed'];
const SUBSCRIPTION_STATES: readonly string[] = ['subscribed', 'pending', 'unsubscribed'];
const DELIVERY_STATES: readonly string[] = ['sending', 'retrying', ...TERMINAL_STATES];
const BROADCAST_STATUSES: readonly string[] = ['planning', 'running', 'paused', 'done', 'failed'];

export interface ExportRequest {
  what: ExportKind;
  format: ExportFormat;
  topic?: string;
  /** Contacts: a contact status or a subscription state; deliveries: a delivery state; broadcasts: a broadcast status. */
  status?: string;
  since?: Date;
  broadcast?: string;
  pseudonymize: boolean;
}

export interface ExportOptions {
  signal?: AbortSignal;
  /** Called every few hundred rows and at the end, with the rows written so far. */
  onProgress?(rows: number): void;
}

/** Rows between two progress calls. */
const PROGRESS_EVERY = 500;

function invalid(message: string): PermanentError {
  return new PermanentError(message, { code: 'invalid-input' });
}

/** Checks the request against the kind of export and the configuration; a mistake is a PermanentError (exit 2). */
export function checkExportRequest(services: Pick<Services, 'conversation' | 'config'>, request: ExportRequest): ContactNaming {
  const topics = services.conversation.topics.map((t) => t.id);
  if (request.topic !== undefined && !topics.includes(request.topic)) throw invalid(`--topic: unknown topic ${JSON.stringify(request.topic)} (known: ${topics.join(', ')})`);
  const allowed = request.what === 'contacts' ? [...CONTACT_STATUSES, ...SUBSCRIPTION_STATES] : request.what === 'deliveries' ? DELIVERY_STATES : BROADCAST_STATUSES;
  if (request.status !== undefined && !allowed.includes(request.status)) throw invalid(`--status for ${request.what}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(request.status)}`);
  if (request.what === 'contacts' && request.broadcast !== undefined) throw invalid('--broadcast goes with --what deliveries or broadcasts');
  if (!request.pseudonymize) return plainNaming;
  const key = services.config.exportPseudonymKey;
  if (key === undefined) throw new ConfigError('--pseudonymize needs EXPORT_PSEUDONYM_KEY (a secret of at least 16 characters; keep it to get the same pseudonyms in later exports)');
  const secret = Buffer.from(key, 'utf8');
  return pseudonymNaming((text) => pseudonym(secret, text));
}

/** How many rows the export is expected to have (for a progress bar; deliveries count before the state filter). */
export async function expectedRows(services: Services, request: ExportRequest): Promise<number> {
  if (request.what === 'contacts') return services.contacts.countSelected(contactSelection(services, request));
  let rows = 0;
  for await (const broadcast of services.broadcasts.select(broadcastFilter(request))) {
    if (request.what === 'broadcasts') rows += 1;
    else rows += Object.values((await services.deliveries.totals(broadcast.id)).byState).reduce((a, b) => a + b, 0);
  }
  return rows;
}

function contactSelection(services: Pick<Services, 'conversation'>, request: ExportRequest): ContactSelection {
  const status = request.status !== undefined && CONTACT_STATUSES.includes(request.status) ? (request.status as ContactStatus) : undefined;
  const state = request.status !== undefined && SUBSCRIPTION_STATES.includes(request.status) ? (request.status as SubscriptionState) : undefined;
  return {
    topics: services.conversation.topics.map((t) => t.id),
    ...(request.topic !== undefined ? { topic: request.topic } : {}), ...(status ? { status } : {}), ...(state ? { state } : {}), ...(request.since ? { since: request.since } : {}),
  };
}

function broadcastFilter(request: ExportRequest): { topic?: string; status?: BroadcastStatus; since?: Date; ids?: string[] } {
  return {
    ...(request.topic !== undefined ? { topic: request.topic } : {}), ...(request.since ? { since: request.since } : {}),
    ...(request.broadcast !== undefined ? { ids: [request.broadcast] } : {}),
    ...(request.what === 'broadcasts' && request.status !== undefined ? { status: request.status as BroadcastStatus } : {}),
  };
}

/** Contacts in key order, each with its deliveries' count and cost, joined from two sorted streams. */
async function* contactsWithCost(services: Services, request: ExportRequest, naming: ContactNaming): AsyncGenerator<ExportRecord> {
  const topics = request.topic !== undefined ? [request.topic] : services.conversation.topics.map((t) => t.id);
  const costs = services.deliveries.costByContact();
  try {
    let cost = await costs.next();
    for await (const contact of services.contacts.select(contactSelection(services, request))) {
      while (!cost.done && cost.value.contactKey < contact.key) cost = await costs.next();
      const own = !cost.done && cost.value.contactKey === contact.key ? cost.value : { messages: 0, estimatedCost: 0 };
      yield contactRecord(contact as Contact, own, topics, naming);
    }
  } finally {
    await costs.return(undefined);
  }
}

async function* deliveryRecords(services: Services, request: ExportRequest, naming: ContactNaming): AsyncGenerator<ExportRecord> {
  for await (const broadcast of services.broadcasts.select(broadcastFilter(request))) {
    for await (const delivery of services.deliveries.ofBroadcast(broadcast.id, request.status as DeliveryState | undefined)) {
      yield deliveryRecord(delivery, broadcast, services.rateCard, naming);
    }
  }
}

async function* broadcastRecords(services: Services, request: ExportRequest): AsyncGenerator<ExportRecord> {
  for await (const broadcast of services.broadcasts.select(broadcastFilter(request))) yield broadcastRecord(broadcast, await broadcastReport(services, broadcast.id));
}

/** The records of an export, streamed; nothing is read before the first is asked for. */
export function exportRecords(services: Services, request: ExportRequest, naming: ContactNaming): { columns: string[]; records: AsyncGenerator<ExportRecord> } {
  switch (request.what) {
    case 'contacts': return { columns: contactColumns(request.topic !== undefined ? [request.topic] : services.conversation.topics.map((t) => t.id)), records: contactsWithCost(services, request, naming) };
    case 'deliveries': return { columns: [...DELIVERY_COLUMNS], records: deliveryRecords(services, request, naming) };
    case 'broadcasts': return { columns: [...BROADCAST_COLUMNS], records: broadcastRecords(services, request) };
  }
}

/** NDJSON (one object a line) or JSON (one array, written element by element). */
function jsonFormatter(format: 'ndjson' | 'json'): Transform {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(record: ExportRecord, _e, done) {
      const line = JSON.stringify(record);
      if (format === 'ndjson') return done(null, `${line}\n`);
      done(null, `${first ? '[\n' : ',\n'}${line}`);
      first = false;
    },
    flush(done) {
      done(null, format === 'json' ? (first ? '[]\n' : '\n]\n') : '');
    },
  });
}

/**
 * Streams an export into `out` with backpressure: records are read from the cursor only as
 * fast as `out` takes them, so memory stays flat whatever the size. `out` is ended unless it
 * is stdout. Returns how many rows were written.
 */
export async function writeExport(services: Services, request: ExportRequest, naming: ContactNaming, out: Writable, options: ExportOptions = {}): Promise<number> {
  const { columns, records } = exportRecords(services, request, naming);
  let rows = 0;
  const counted = async function* (): AsyncGenerator<ExportRecord> {
    for await (const record of records) {
      rows += 1;
      if (rows % PROGRESS_EVERY === 0) options.onProgress?.(rows);
      yield record;
    }
  };
  const stages = request.format === 'csv' ? csvStages(columns) : [jsonFormatter(request.format)];
  await pipeline([Readable.from(counted(), { highWaterMark: 64 }), ...stages, out], { signal: options.signal, end: out !== process.stdout });
  options.onProgress?.(rows);
  return rows;
}

/** CSV as RFC 4180 has it: a header row, CRLF, fields quoted where needed; cells a spreadsheet would run as formulas neutralised. */
function csvStages(columns: readonly string[]): Transform[] {
  const rows = new Transform({ objectMode: true, transform(record: ExportRecord, _e, done) {
    done(null, csvRow(record, columns).map(neutralizeFormula));
  } });
  return [rows, stringify({ header: true, columns: [...columns], record_delimiter: 'windows' })];
}

/**
 * Writes a file under a temporary name beside it and renames it at the end: an export that
 * fails or is stopped leaves nothing under `path` (a SIGKILL leaves the hidden `.part` file).
 */
export async function writeFileAtomically(path: string, write: (out: Writable) => Promise<number>): Promise<number> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const out = createWriteStream(temp, { flags: 'wx' });
  try {
    const rows = await write(out);
    await rename(temp, path);
    return rows;
  } catch (err) {
    out.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}
