import { SingleBar } from 'cli-progress';
import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { checkExportRequest, expectedRows, EXPORT_FORMATS, EXPORT_KINDS, writeExport, writeFileAtomically, type ExportFormat, type ExportKind, type ExportRequest } from '../src/app/export.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { parseIsoInstant } from '../src/domain/contact-import.js';
import { RefusedError, runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run -s export -- [--what contacts|deliveries|broadcasts] [--topic T] [--status S] [--since DATE]
                            [--broadcast ID] [--format csv|ndjson|json] [--out FILE] [--pseudonymize]

Streams subscriber lists and delivery statistics out of the database, with flat memory however
many rows: to stdout (pipe it; npm run -s keeps npm's banner out), or to FILE.
  --what          contacts (default): number or BSUID, name, language, status (active, lapsed with the
                  pruning reason, removed), last reply, window open until, counters, messages and estimated
                  cost so far, and per topic the state with when and how consent was given (wording,
                  language, source, the message or reference).
                  deliveries: per broadcast and contact, kind (session / template), state, reason or Meta
                  code, estimated and reported price. broadcasts: totals per state, kind and reason, planned,
                  estimated and reported cost (erased contacts' deliveries still counted)
  --topic         only this topic (contacts: with a subscription record for it; else its broadcasts)
  --status        contacts: active, lapsed, removed, or a subscription state subscribed, pending,
                  unsubscribed (of --topic, or of any topic); deliveries: sending, retrying, sent, delivered,
                  read, failed, skipped, unknown; broadcasts: planning, running, paused, done, failed
  --since         ISO 8601 date or time with zone: contacts created since (with --topic: whose subscription
                  changed since); deliveries and broadcasts of broadcasts created since
  --broadcast     deliveries or totals of this broadcast only
  --format        csv (default: RFC 4180, header row, UTF-8, CRLF; cells starting with = + - @ that are not
                  plain numbers get a leading ' so a spreadsheet shows them as text), ndjson, or json (one array)
  --out           write FILE: under a temporary name beside it, renamed at the end, so a failed or stopped
                  export leaves no file under that name
  --pseudonymize  every number and BSUID replaced by a keyed hash under EXPORT_PSEUDONYM_KEY (the same
                  contact gets the same pseudonym in every export with that key, so files join); no names,
                  message ids or consent references
A progress bar (rows and rows/s) goes to stderr when it is a terminal; nothing otherwise.
Exit codes: 3 stopped by Ctrl-C or SIGTERM (with --out nothing is left under FILE), 78 --pseudonymize
without EXPORT_PSEUDONYM_KEY.`;

const FLAGS = {
  what: { type: 'string' }, topic: { type: 'string' }, status: { type: 'string' }, since: { type: 'string' }, broadcast: { type: 'string' },
  format: { type: 'string' }, out: { type: 'string' }, pseudonymize: { type: 'boolean' },
} as const;

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

runCommand({ name: 'npm run export', help: HELP, flags: FLAGS }, async ({ values: args }) => {
  let since: Date | undefined;
  if (args.since !== undefined) {
    since = parseIsoInstant(args.since);
    if (!since) throw new UsageError(`--since: expected an ISO 8601 date (2025-03-01) or time with a zone (2025-03-01T10:00:00Z), got ${JSON.stringify(args.since)}`);
  }
  const request: ExportRequest = {
    what: oneOf<ExportKind>('what', args.what, EXPORT_KINDS, 'contacts'),
    format: oneOf<ExportFormat>('format', args.format, EXPORT_FORMATS, 'csv'),
    pseudonymize: args.pseudonymize === true,
    ...(args.topic !== undefined ? { topic: args.topic } : {}), ...(args.status !== undefined ? { status: args.status } : {}),
    ...(since ? { since } : {}), ...(args.broadcast !== undefined ? { broadcast: args.broadcast } : {}),
  };
  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const content = loadContentConfig(config);
  const naming = checkExportRequest({ config, conversation: content.conversation }, request); // before anything is opened

  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort());
  const releasers = new Releasers(logger);
  const bar = process.stderr.isTTY ? new SingleBar({ stream: process.stderr, format: '{bar} {value}/{total} rows, {rate} rows/s', barsize: 30, hideCursor: true, fps: 5 }) : undefined;
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    const started = performance.now();
    if (bar) {
      bar.start(await expectedRows(services, request), 0, { rate: 0 });
      releasers.add('progress bar', async () => bar.stop());
    }
    const onProgress = (rows: number) => bar?.update(rows, { rate: Math.round(rows / Math.max(0.001, (performance.now() - started) / 1000)) });
    const options = { signal: stop.signal, onProgress };
    try {
      if (args.out !== undefined) await writeFileAtomically(args.out, (out) => writeExport(services, request, naming, out, options));
      else await writeExport(services, request, naming, process.stdout, options);
    } catch (err) {
      if (stop.signal.aborted) throw new RefusedError(args.out !== undefined ? `export stopped: nothing written to ${args.out}` : 'export stopped: the output is incomplete');
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0; // the reader (head, a pager) has enough
      throw err;
    }
    return 0;
  } finally {
    await releasers.releaseAll();
  }
});
