import { readFileSync } from 'node:fs';
import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { watchBroadcast } from '../src/app/broadcast-watch.js';
import { broadcastReport, createBroadcast, DEFAULT_REPORT_WAIT_MS, planBroadcast, prepareBroadcast, resumeBroadcast, type PublishRequest } from '../src/app/publish.js';
import { describeStatus, formatPlan, formatReport, progressDetail, progressFigures } from '../src/app/publish-format.js';
import { findUnknown, resendUnknown } from '../src/app/resend-unknown.js';
import { lazyScheduler } from '../src/app/scheduler.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { maskPhone } from '../src/domain/mask-phone.js';
import { progressOutput } from './cli/progress.js';
import { confirm } from './cli/confirm.js';
import { RefusedError, runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run publish -- --topic T (--text "..." | --data FILE.json) [--template NAME] [--key K] [--dry-run] [--json] [--yes]
       npm run publish -- --status BROADCAST_ID [--watch] [--report-wait SECONDS] [--json]
       npm run publish -- --resume BROADCAST_ID [--json]
       npm run publish -- --resend-unknown BROADCAST_ID [--yes] [--json]

Publishes new content to every subscriber of topic T: a free session message inside the
customer service window, the approved template outside it. The worker sends it.
  --text       the session text (overrides the topic's text; {field} placeholders need --data)
  --data       a JSON object with the fields of the topic's text and template
  --template   one of the topic's templates by name (default: its first)
  --key        idempotency key (default: topic + content hash); the same key never sends twice
  --dry-run    send nothing; print who gets a session message, a template, who is skipped and why, and the cost
  --json       print one JSON object instead of text, errors included
  --yes        do not ask when the estimated cost is above PUBLISH_BUDGET, or before --resend-unknown
  --status     progress and totals of a broadcast, and whether it is settled
  --watch      with --status: follow it until it is settled (a progress bar on stderr; with --json one
               JSON object per update on stdout); Ctrl-C stops watching and changes nothing
  --report-wait  with --status: seconds a sent message may wait for its delivery report before it no
               longer keeps the broadcast from being settled (default ${DEFAULT_REPORT_WAIT_MS / 1000})
  --resume     continue a paused broadcast (after a template was approved again, say)
  --resend-unknown  send once more the deliveries that ended unknown (their worker stopped before the
               request was known to have left); a running worker (npm start) sends them

Settled: sending finished (every batch done, nothing being sent or retried) and every delivery
has its final state (delivered, read, failed, skipped, unknown), except sent messages that have
waited longer than --report-wait for their delivery report (a phone that is off).
Exit code 3: nobody confirmed (the estimated cost is above PUBLISH_BUDGET, or --resend-unknown
without --yes and without a terminal).`;

const FLAGS = {
  topic: { type: 'string' }, text: { type: 'string' }, data: { type: 'string' }, template: { type: 'string' }, key: { type: 'string' },
  'dry-run': { type: 'boolean' }, yes: { type: 'boolean' }, status: { type: 'string' }, resume: { type: 'string' },
  watch: { type: 'boolean' }, 'report-wait': { type: 'string' }, 'resend-unknown': { type: 'string' },
} as const;

/** How often --watch asks the database. */
const WATCH_INTERVAL_MS = 1000;
/** How many masked numbers --resend-unknown names. */
const LISTED_NUMBERS = 10;

function reportWait(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_REPORT_WAIT_MS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 30 * 86_400) throw new UsageError(`--report-wait: expected whole seconds from 1 to 2592000 (30 days), got ${JSON.stringify(raw)}`);
  return Number(raw) * 1000;
}

function listNumbers(keys: readonly string[]): string {
  const shown = keys.slice(0, LISTED_NUMBERS).map((k) => (k.startsWith('+') ? maskPhone(k) : k));
  return `${shown.join(', ')}${keys.length > LISTED_NUMBERS ? ` and ${keys.length - LISTED_NUMBERS} more` : ''}`;
}

function readData(path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read --data ${path}: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`--data ${path} must hold a JSON object`);
  return json as Record<string, unknown>;
}

runCommand({ name: 'npm run publish', help: HELP, flags: FLAGS, json: true }, async ({ values: args, json, print }) => {
  const modes = [args.status, args.resume, args.topic, args['resend-unknown']].filter((v) => v !== undefined).length;
  if (modes !== 1) throw new UsageError('give exactly one of --topic, --status, --resume or --resend-unknown');
  if (args.status === undefined && (args.watch || args['report-wait'] !== undefined)) throw new UsageError(`${args.watch ? '--watch' : '--report-wait'} goes with --status`);
  const reportWaitMs = reportWait(args['report-wait']);
  let request: PublishRequest | undefined;
  if (args.topic !== undefined) {
    if (args.text === undefined && args.data === undefined) throw new UsageError('give --text or --data');
    request = {
      topic: args.topic,
      ...(args.text === undefined ? {} : { text: args.text }),
      ...(args.data === undefined ? {} : { data: readData(args.data) }),
      ...(args.template === undefined ? {} : { templateName: args.template }),
      ...(args.key === undefined ? {} : { key: args.key }),
    };
  }

  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const content = loadContentConfig(config);
  const prepared = request ? prepareBroadcast({ contents: content.contents, config }, request) : undefined; // validated before anything is stored

  // Stopped in reverse order once the last operation is done, whatever happened.
  const releasers = new Releasers(logger);
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    // Only the commands that schedule jobs create the scheduler; it is never started here.
    const jobs = lazyScheduler(database.db, config, logger, releasers);

    if (args.status !== undefined && !args.watch) {
      const report = await broadcastReport(services, args.status, { reportWaitMs });
      print(formatReport(report, systemClock.now()), report);
      return 0;
    }
    if (args.status !== undefined) {
      const id = args.status;
      // Ctrl-C (and npm's copy of it) or SIGTERM end the watch, not the process: it closes what
      // it opened and exits 0. Watching only reads, so nothing is left half-done.
      const stop = new AbortController();
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort());
      const progress = progressOutput();
      try {
        const { report, end } = await watchBroadcast(services, id, {
          intervalMs: WATCH_INTERVAL_MS, reportWaitMs, signal: stop.signal,
          onUpdate: (update) => {
            const { final, total } = progressFigures(update);
            progress.update(final, total, progressDetail(update));
            if (json) console.log(JSON.stringify(update));
          },
        });
        progress.stop();
        if (end === 'stopped') {
          console.error(`stopped watching broadcast ${id} (${describeStatus(report)}); nothing was changed`);
        } else if (!json) {
          const why = end === 'settled' ? 'settled' : `${end}: watching longer changes nothing (${end === 'paused' ? `npm run publish -- --resume ${id}` : 'see the reason above'})`;
          console.log(`${formatReport(report, systemClock.now())}\nbroadcast ${id} ${why}`);
        }
        return 0;
      } finally {
        progress.stop();
      }
    }
    if (args['resend-unknown'] !== undefined) {
      const found = await findUnknown(services, args['resend-unknown']);
      const id = found.broadcast.id;
      const count = found.contactKeys.length;
      if (count === 0) {
        const earlier = await services.deliveries.resentUnknownCount(id);
        print(`broadcast ${id} has no unknown deliveries to resend${earlier > 0 ? ` (${earlier} resent before)` : ''}`, { id, unknown: 0, resent: 0, status: found.broadcast.status });
        return 0;
      }
      if (!args.yes) {
        const risk = 'if a first request did reach WhatsApp and only its status webhooks were lost, that contact gets the message twice';
        if (!process.stdin.isTTY) throw new RefusedError(`${count} deliveries of broadcast ${id} ended unknown; resending sends each once more, and ${risk}: run again with --yes to resend`);
        console.error(`${count} deliveries of broadcast ${id} ended unknown (${listNumbers(found.contactKeys)}): each was claimed, but its worker stopped before the request was known to have left, and no status webhook came.`);
        console.error(`Resending sends each of them once more. A duplicate is possible: ${risk}.`);
        if (!(await confirm(`Resend ${count}? [y/N] `))) throw new RefusedError(`${count} unknown deliveries of broadcast ${id}: not resent`);
      }
      const result = await resendUnknown(services, { scheduleBatch: (batchId, at) => jobs().scheduleUnique('fan-out-batch', { batchId }, 'batchId', at) }, found, systemClock.now());
      const others = count - result.resent;
      const next = result.status === 'paused'
        ? `The broadcast is paused: they go out after npm run publish -- --resume ${id}.`
        : `A running worker (npm start) sends them; until one runs, nothing is sent. Follow with: npm run publish -- --status ${id} --watch`;
      print(
        `${result.resent} of ${count} unknown deliveries of broadcast ${id} queued to be resent once (${listNumbers(found.contactKeys)})${others > 0 ? `; ${others} were taken by another run at the same time` : ''}.\n${next}`,
        { id, unknown: count, resent: result.resent, batches: result.batches, status: result.status },
      );
      return 0;
    }
    if (args.resume !== undefined) {
      const batches = await resumeBroadcast(services, { scheduleBatch: (batchId, at) => jobs().scheduleUnique('fan-out-batch', { batchId }, 'batchId', at) }, args.resume, systemClock.now());
      print(`broadcast ${args.resume} resumed (${batches} batches to go)`, { id: args.resume, status: 'running', batches });
      return 0;
    }
    if (!prepared) throw new UsageError('nothing to publish');
    const now = systemClock.now();
    const plan = await planBroadcast(services, prepared, now);
    if (args['dry-run']) {
      print(formatPlan(prepared, plan, `dry run for topic ${prepared.topic}: nothing sent`), { dryRun: true, topic: prepared.topic, key: prepared.key, ...plan });
      return 0;
    }
    if (plan.estimatedCost > config.fanOut.budget && !args.yes) {
      const ask = `estimated cost ${plan.estimatedCost.toFixed(2)} ${plan.currency} is above PUBLISH_BUDGET ${config.fanOut.budget.toFixed(2)}`;
      if (!process.stdin.isTTY) throw new RefusedError(`${ask}: run again with --yes to send`);
      console.error(formatPlan(prepared, plan, `plan for topic ${prepared.topic}`));
      if (!(await confirm(`${ask}. Send? [y/N] `))) throw new RefusedError(`${ask}: not sent`);
    }
    const { broadcast, created } = await createBroadcast(services, prepared, plan, now);
    if (broadcast.status === 'planning') await jobs().scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', now);
    if (!created) {
      const report = await broadcastReport(services, broadcast.id);
      print(`already published as ${broadcast.id} (same key ${broadcast.key}): nothing new sent\n${formatReport(report, now)}`, { created: false, ...report });
      return 0;
    }
    print(`${formatPlan(prepared, plan, `published broadcast ${broadcast.id} for topic ${prepared.topic}`)}\nThe worker sends it; follow it with: npm run publish -- --status ${broadcast.id}`, { created: true, id: broadcast.id, topic: prepared.topic, key: prepared.key, ...plan });
    return 0;
  } finally {
    await releasers.releaseAll();
  }
});
