import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { importContacts, type ImportSummary, type RowReport } from '../src/app/import.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { progressOutput } from './cli/progress.js';
import { EXIT, runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run import -- FILE.csv --topic T --consent-source S [--dry-run] [--json]

Subscribes contacts who gave their consent elsewhere (a web form, paper) to topic T, from a CSV
file read row by row. The header row names the columns, in any order:
  phone          the number (international: +49 151 ... or 0049 ...), normalised to E.164 and validated
  bsuid          or WhatsApp's business-scoped user id, when there is no number
  consent_at     when they agreed: ISO 8601, a date (2025-03-01) or a time with a zone (2025-03-01T10:00:00Z)
  consent_text   the wording they agreed to
  consent_ref    (optional) the other system's reference for that consent
  language       (optional) de, en, ...: the language of the wording, and of messages to them when not set yet
  name           (optional) a name, kept when the contact has none
  --consent-source  how the consent was collected (web-form, paper, ...): recorded with each consent
  --dry-run      store nothing; print the same summary
  --json         print one JSON object: the counts, rejected rows by reason, and the first rejected rows

Each row is checked on its own: a broken one (bad number, missing or future consent time, missing
wording, more fields than the header names) is reported with its line number and reason and the
others go on. A contact already subscribed stays as it is (its consent on record is kept). A number
that opted out (STOP), was forgotten, or left the topic after the row's consent is not subscribed
again; a consent newer than the opt-out subscribes them again, and the row says so. Imported contacts
have no open window until they write: broadcasts reach them as templates. Importing the same file
again changes nothing, and an import stopped half way and run again ends as one run would.
Progress goes to stderr: a bar on a terminal, plain lines otherwise.
Exit codes: 0 done (also with rejected rows), 2 a bad argument, a header that names an unknown
column, or a file that stops being CSV (the rows before that line are imported; the summary says where).`;

const FLAGS = { topic: { type: 'string' }, 'consent-source': { type: 'string' }, 'dry-run': { type: 'boolean' } } as const;

/** Rejected rows listed in the --json answer at most (all are counted, and printed as lines without --json). */
const LISTED_ROWS = 1000;

function describe(summary: ImportSummary): string {
  const reasons = Object.entries(summary.rejectedByReason).map(([reason, n]) => `${reason} ${n}`).join(', ');
  const what = summary.dryRun ? 'dry run, nothing stored: would import' : 'imported';
  return `${what} ${summary.imported}, updated ${summary.updated}, unchanged ${summary.unchanged}, rejected ${summary.rejected}${reasons ? ` (${reasons})` : ''} of ${summary.rows} rows into topic ${summary.topic}`;
}

runCommand({ name: 'npm run import', help: HELP, flags: FLAGS, positionals: true, json: true }, async ({ values: args, positionals, json, print }) => {
  if (positionals.length !== 1) throw new UsageError('give exactly one FILE.csv');
  const file = positionals[0] as string;
  if (args.topic === undefined) throw new UsageError('give --topic T');
  const consentSource = args['consent-source']?.trim();
  if (consentSource === undefined || !/^[\w .:/-]{1,64}$/.test(consentSource)) throw new UsageError('give --consent-source S: how the consent was collected (web-form, paper, ...), up to 64 letters, digits and - _ . : /');
  const size = (await stat(file).catch(() => {
    throw new UsageError(`cannot read ${file}`);
  })).size;

  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const content = loadContentConfig(config);
  const releasers = new Releasers(logger);
  const progress = progressOutput();
  releasers.add('progress', async () => progress.stop());
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    const listed: RowReport[] = [];
    let unlisted = 0;
    const input = createReadStream(file);
    const summary = await importContacts(services, input, { topic: args.topic, consentSource, dryRun: args['dry-run'] === true }, {
      onRow(report) {
        if (!json) console.log(`line ${report.line}: ${report.outcome === 'rejected' ? `rejected (${report.reason}): ` : `${report.outcome}: `}${report.message}`);
        else if (listed.length < LISTED_ROWS) listed.push(report);
        else unlisted += 1;
      },
      onProgress: (rows) => progress.update(input.bytesRead, size, `bytes, ${rows} rows`),
    });
    progress.stop();
    const error = summary.error ? `\nline ${summary.error.line}: ${summary.error.message}` : '';
    print(`${describe(summary)}${error}`, { ...summary, rowsReported: listed, ...(unlisted > 0 ? { rowsNotListed: unlisted } : {}) });
    if (summary.error) console.error(`error: line ${summary.error.line}: ${summary.error.message}`);
    return summary.error ? EXIT.usage : EXIT.ok;
  } finally {
    await releasers.releaseAll();
  }
});
