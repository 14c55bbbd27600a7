import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { dailyTopic, dryRun, runSlot, type DailyRunDeps } from '../src/app/daily-run.js';
import { loadDailyRunSettings } from '../src/app/daily-runs.js';
import { dailyStatus, describeRun, formatDailyStatus, formatDryRun, runView } from '../src/app/daily-status.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { lazyScheduler } from '../src/app/scheduler.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { formatWallTime } from '../src/domain/cron-schedule.js';
import { manualSlot } from '../src/domain/daily-run.js';
import { DailyRunRepository } from '../src/store/daily-run-repository.js';
import { EXIT, runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run daily -- --topic T --now [--dry-run] [--sandbox URL] [--json]
       npm run daily -- --status [--topic T] [--limit N] [--json]

The daily run by hand, and its history. A running worker (npm start) runs every topic of
DAILY_RUNS_FILE on its schedule by itself; this command does not need one.
  --now       run topic T's daily run at once: fetch its source and publish through the same path as
              npm run publish when the data differs from what the topic's daily run last published.
              It claims the slot of the current minute as the schedule would, so it never runs twice
              with a worker (a second --now in the same minute reports the first); a failing fetch is
              retried with backoff within the topic's grace period
  --dry-run   with --now: fetch, map and plan, and print what would happen; nothing is claimed, stored or sent
  --sandbox   the running worker's sandbox URL, for a source on the built-in sandbox (sandbox:/...); the
              worker logs it at start. Default: http://127.0.0.1:SANDBOX_PORT when SANDBOX_PORT is set
  --status    each topic's schedule, next times and last success, and the latest runs with their outcome
  --limit     with --status: how many runs (default 20)
  --json      print one JSON object instead of text, errors included

Exit codes of --now: 0 published or unchanged (or run already), 1 the run failed (the source did not
answer within the grace period, or its answer did not map; the reason is recorded), 3 skipped: the
estimated cost is above PUBLISH_BUDGET or the topic's budget (nothing sent).`;

const FLAGS = {
  topic: { type: 'string' }, now: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, sandbox: { type: 'string' },
  status: { type: 'boolean' }, limit: { type: 'string' },
} as const;

runCommand({ name: 'npm run daily', help: HELP, flags: FLAGS, json: true }, async ({ values: args, print }) => {
  if ((args.now === true) === (args.status === true)) throw new UsageError('give exactly one of --now (with --topic) or --status');
  if (args.now && args.topic === undefined) throw new UsageError('--now needs --topic T');
  if (args.status && (args['dry-run'] || args.sandbox !== undefined)) throw new UsageError(`${args['dry-run'] ? '--dry-run' : '--sandbox'} goes with --now`);
  if (args.now && args.limit !== undefined) throw new UsageError('--limit goes with --status');
  if (args.limit !== undefined && (!/^\d+$/.test(args.limit) || Number(args.limit) < 1 || Number(args.limit) > 1000)) throw new UsageError(`--limit: expected a whole number from 1 to 1000, got ${JSON.stringify(args.limit)}`);
  if (args.sandbox !== undefined && (!URL.canParse(args.sandbox) || !/^https?:$/.test(new URL(args.sandbox).protocol))) throw new UsageError(`--sandbox: expected an http(s) URL, got ${JSON.stringify(args.sandbox)}`);

  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const content = loadContentConfig(config);
  const settings = loadDailyRunSettings(config, content.contents, systemClock);
  const topic = args.topic === undefined ? undefined : dailyTopic(settings, args.topic); // checked before anything is opened
  let sandboxUrl = args.sandbox;
  if (args.now && topic?.source.url.startsWith('sandbox:/') && sandboxUrl === undefined) {
    if (config.sandbox.port === 0) throw new UsageError(`the source of ${topic.topic} is the built-in sandbox (${topic.source.url}): give --sandbox URL (the running worker logs it: "WhatsApp sandbox listening on http://127.0.0.1:PORT"), or start the worker with SANDBOX_PORT set`);
    sandboxUrl = `http://127.0.0.1:${config.sandbox.port}`;
  }

  const releasers = new Releasers(logger);
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    const runs = new DailyRunRepository(database.db);

    if (args.status) {
      const status = await dailyStatus(runs, settings, config.timezone, systemClock.now(), { ...(args.topic === undefined ? {} : { topic: args.topic }), limit: Number(args.limit ?? 20) });
      print(formatDailyStatus(status), status);
      return EXIT.ok;
    }

    // Only a run that publishes schedules a job (the plan); the scheduler is never started here.
    const jobs = lazyScheduler(database.db, config, logger, releasers);
    const deps: DailyRunDeps = {
      services, runs, settings, sandboxUrl, logger,
      schedulePlan: (broadcastId) => jobs().scheduleUnique('plan-broadcast', { broadcastId }, 'broadcastId', systemClock.now()),
    };
    const name = (topic as NonNullable<typeof topic>).topic;

    if (args['dry-run']) {
      const report = await dryRun(deps, name, systemClock.now());
      print(formatDryRun(report), { dryRun: true, ...report });
      return report.outcome === 'failed' ? EXIT.unexpected : EXIT.ok;
    }

    const slot = manualSlot(systemClock.now());
    const owner = `cli:${hostname()}:${process.pid}`;
    for (;;) {
      const attempt = await runSlot(deps, { topic: name, slot, trigger: 'manual', owner });
      const view = runView(attempt.run);
      if (attempt.kind === 'retrying') {
        console.error(`${attempt.error}: fetching again in ${Math.ceil(attempt.retryInMs / 1000)} s (attempt ${attempt.run.attempts}; Ctrl-C leaves the run to a worker)`);
        await sleep(attempt.retryInMs);
        continue;
      }
      const when = formatWallTime(config.timezone, slot);
      if (attempt.kind === 'not-claimed') {
        print(`the run of ${name} for ${when} was claimed already (${view.state === 'running' || view.state === 'retrying' ? `it is being run by ${attempt.run.owner}` : 'it is finished'}): ${describeRun(view, config.timezone)}`, { claimed: false, run: view });
        return EXIT.ok;
      }
      const follow = view.broadcastId ? `\nThe worker sends it; follow it with: npm run publish -- --status ${view.broadcastId}` : '';
      print(`daily run of ${name} for ${when}: ${describeRun(view, config.timezone)}${follow}`, { claimed: true, run: view });
      return view.state === 'failed' ? EXIT.unexpected : view.state === 'skipped-budget' ? EXIT.refused : EXIT.ok;
    }
  } finally {
    await releasers.releaseAll();
  }
});
