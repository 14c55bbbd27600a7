import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { eraseContact, planErasure, type ErasureResult } from '../src/app/forget.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { JOBS_COLLECTION } from '../src/app/scheduler.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { maskContactId, parseContactId } from '../src/domain/contact-id.js';
import { PermanentError } from '../src/domain/errors.js';
import { confirm } from './cli/confirm.js';
import { RefusedError, runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run forget -- PHONE|BSUID [--yes] [--json]

Erases one contact on request: the contact record and everything that names them: inbound
messages and their claims, status and preference webhook events, delivery records (counted first,
without the contact, into their broadcasts' totals, so statistics and costs stay right) and their
retry attempts, nudge records, scheduled jobs naming them, the built-in sandbox's records of the
number (when it keeps them in this database), and a broadcast batch bounded by their key (moved to
the key before it). The suppression record, a keyed hash of the number, stays: someone who opted
out is never messaged again without new consent. When there was none, one is written (reason
erased), so an old list cannot import them again; new consent over WhatsApp, or an import whose
consent is newer, can.
  PHONE|BSUID  +4915112345678, 0049 151 ..., a wa_id (digits), a BSUID (49.AbC...) or user:<BSUID>
  --yes        do not ask (without a terminal, forget refuses unless given --yes)
  --json       print one JSON object: what was removed per collection, and the suppression record
Exit codes: 2 not a number or BSUID, or no contact and nothing stored names them; 3 not confirmed.`;

const FLAGS = { yes: { type: 'boolean' } } as const;

function listCounts(counts: Record<string, number>): string {
  return Object.entries(counts).map(([collection, n]) => `${collection} ${n}`).join(', ');
}

function describeSuppression(result: ErasureResult): string {
  const { suppression } = result;
  return suppression.state === 'kept'
    ? `The suppression record stays (${suppression.reason} on ${suppression.at.toISOString()}, a keyed hash, no number): they will not be messaged again without new consent.`
    : 'A suppression record (reason erased, a keyed hash, no number) now stands for them: an old list cannot import them again; new consent can.';
}

runCommand({ name: 'npm run forget', help: HELP, flags: FLAGS, positionals: true, json: true }, async ({ values: args, positionals, print }) => {
  if (positionals.length !== 1) throw new UsageError('give exactly one PHONE or BSUID');
  const parsed = parseContactId(positionals[0] as string);
  if (!parsed.ok) throw new UsageError(parsed.reason);
  const who = maskContactId(parsed.id);

  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const content = loadContentConfig(config);
  const releasers = new Releasers(logger);
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    const options = { sandboxInDatabase: config.whatsapp.apiBase === undefined, jobsCollection: JOBS_COLLECTION };
    const plan = await planErasure(services, options, parsed.id);
    if (Object.keys(plan.found).length === 0) {
      const kept = plan.suppression ? ` (a suppression record stands: ${plan.suppression.reason} on ${plan.suppression.at.toISOString()})` : '';
      throw new PermanentError(`no contact ${who}: nothing stored names them${kept}`, { code: 'unknown-contact' });
    }
    if (!args.yes) {
      if (!process.stdin.isTTY) throw new RefusedError(`forgetting ${who} removes ${listCounts(plan.found)}: run again with --yes`);
      console.error(`Forget ${who}? This removes ${listCounts(plan.found)}, and cannot be undone.`);
      if (!(await confirm('Forget? [y/N] '))) throw new RefusedError(`${who}: not forgotten`);
    }
    const result = await eraseContact(services, options, plan, systemClock.now());
    const waiting = result.waitingWebhookBatches > 0 ? `\n${result.waitingWebhookBatches} webhook batches still waiting to be stored name them: run forget again once a worker stored them.` : '';
    print(
      `forgot ${who}: removed ${listCounts(result.removed)} (deliveries counted into their broadcasts' totals first).\n${describeSuppression(result)}${waiting}`,
      { contact: who, removed: result.removed, suppression: result.suppression, waitingWebhookBatches: result.waitingWebhookBatches },
    );
    return 0;
  } finally {
    await releasers.releaseAll();
  }
});
