import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { loadConfig, readEnvFile } from '../config/index.js';
import { createLogger } from '../src/app/logger.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast, resumeBroadcast, type PublishRequest } from '../src/app/publish.js';
import { formatPlan, formatReport } from '../src/app/publish-format.js';
import { createScheduler } from '../src/app/scheduler.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { ConfigError, PermanentError } from '../src/domain/errors.js';
import { connectDatabase, ensureIndexes } from '../src/store/database.js';
import { INDEX_DECLARATIONS } from '../src/store/index-declarations.js';
import { startDatabaseServer } from '../src/store/server/local-server.js';

const HELP = `Usage: npm run publish -- --topic T (--text "..." | --data FILE.json) [--template NAME] [--key K] [--dry-run] [--json] [--yes]
       npm run publish -- --status BROADCAST_ID [--json]
       npm run publish -- --resume BROADCAST_ID

Publishes new content to every subscriber of topic T: a free session message inside the
customer service window, the approved template outside it. The worker sends it.
  --text       the session text (overrides the topic's text; {field} placeholders need --data)
  --data       a JSON object with the fields of the topic's text and template
  --template   one of the topic's templates by name (default: its first)
  --key        idempotency key (default: topic + content hash); the same key never sends twice
  --dry-run    send nothing; print who gets a session message, a template, who is skipped and why, and the cost
  --json       print one JSON object instead of text
  --yes        do not ask when the estimated cost is above PUBLISH_BUDGET
  --status     progress and totals of a broadcast
  --resume     continue a paused broadcast (after a template was approved again, say)
Exit codes: 0 done, 2 bad input, 3 not confirmed, 78 bad configuration.`;

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        topic: { type: 'string' }, text: { type: 'string' }, data: { type: 'string' }, template: { type: 'string' }, key: { type: 'string' },
        'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, yes: { type: 'boolean' }, status: { type: 'string' }, resume: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return values;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
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

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const modes = [args.status, args.resume, args.topic].filter((v) => v !== undefined).length;
  if (modes !== 1) throw new UsageError('give exactly one of --topic, --status or --resume');
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
  const out = (text: string, json: unknown) => console.log(args.json ? JSON.stringify(json) : text);

  const server = await startDatabaseServer({ uri: config.database.uri, mode: 'local', dataDir: config.database.localDir, javaMaxHeap: config.database.localMaxHeap, report: (line) => logger.info(line) });
  const database = await connectDatabase(server.uri, config.database.name);
  try {
    await ensureIndexes(database.db, INDEX_DECLARATIONS);
    const services = buildServices(config, logger, systemClock, database.db, content);
    if (args.status !== undefined) {
      const report = await broadcastReport(services, args.status);
      out(formatReport(report), report);
      return 0;
    }
    const scheduler = createScheduler({ db: database.db, logger, pollIntervalMs: config.jobs.pollIntervalMs, lockLifetimeMs: config.jobs.lockLifetimeMs, jobs: [] });
    if (args.resume !== undefined) {
      const batches = await resumeBroadcast(services, { scheduleBatch: (batchId, at) => scheduler.scheduleUnique('fan-out-batch', { batchId }, 'batchId', at) }, args.resume, systemClock.now());
      out(`broadcast ${args.resume} resumed (${batches} batches to go)`, { id: args.resume, status: 'running', batches });
      return 0;
    }
    if (!prepared) throw new UsageError('nothing to publish');
    const now = systemClock.now();
    const plan = await planBroadcast(services, prepared, now);
    if (args['dry-run']) {
      out(formatPlan(prepared, plan, `dry run for topic ${prepared.topic}: nothing sent`), { dryRun: true, topic: prepared.topic, key: prepared.key, ...plan });
      return 0;
    }
    if (plan.estimatedCost > config.fanOut.budget && !args.yes) {
      const ask = `estimated cost ${plan.estimatedCost.toFixed(2)} ${plan.currency} is above PUBLISH_BUDGET ${config.fanOut.budget.toFixed(2)}`;
      if (!process.stdin.isTTY) {
        console.error(`error: ${ask}: run again with --yes to send`);
        return 3;
      }
      console.error(formatPlan(prepared, plan, `plan for topic ${prepared.topic}`));
      if (!(await confirm(`${ask}. Send? [y/N] `))) {
        console.error('not sent');
        return 3;
      }
    }
    const { broadcast, created } = await createBroadcast(services, prepared, plan, now);
    if (broadcast.status === 'planning') await scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', now);
    if (!created) {
      const report = await broadcastReport(services, broadcast.id);
      out(`already published as ${broadcast.id} (same key ${broadcast.key}): nothing new sent\n${formatReport(report)}`, { created: false, ...report });
      return 0;
    }
    out(`${formatPlan(prepared, plan, `published broadcast ${broadcast.id} for topic ${prepared.topic}`)}\nThe worker sends it; follow it with: npm run publish -- --status ${broadcast.id}`, { created: true, id: broadcast.id, topic: prepared.topic, key: prepared.key, ...plan });
    return 0;
  } finally {
    await database.close();
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof PermanentError) {
      console.error(`error: ${err.message}`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      console.error(`error: ${err.message}`);
      process.exit(78);
    }
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  },
);
