import { loadConfig, readEnvFile } from '../config/index.js';
import { stopOnSignals } from '../src/app/lifecycle.js';
import { createLogger, type RootLogger } from '../src/app/logger.js';
import { systemClock } from '../src/app/system-clock.js';
import { startWorker } from '../src/app/worker.js';
import { runCommand } from './cli/run-command.js';
import { WORKER_JOBS } from '../jobs/index.js';

const HELP = `Usage: npm start

Runs the worker: webhooks, health and metrics over HTTP, and the scheduled jobs.
Configuration comes from the environment and an optional .env file (see .env.example).
Without MONGODB_URI a local database server is started and its data kept in LOCAL_DB_DIR.
Stop with Ctrl-C or SIGTERM; a second signal forces the exit.`;

/** Waits until the logger has written its last lines (at most half a second). */
function ended(logger: RootLogger): Promise<void> {
  return new Promise<void>((resolve) => {
    logger.on('finish', resolve);
    logger.end();
    setTimeout(resolve, 500).unref();
  });
}

runCommand({ name: 'npm start', help: HELP, flags: {} }, async () => {
  const config = loadConfig(process.env, readEnvFile());
  const logger = createLogger({
    level: config.log.level,
    json: config.env === 'production',
    pii: config.log.pii,
    defaultMeta: { service: 'worker', pid: process.pid },
  });
  const worker = await startWorker(config, logger, systemClock, WORKER_JOBS);
  // Runs until a signal has stopped everything. Agenda 6 leaves a timer per job run
  // (lockLifetime / 2) that would hold the process open afterwards: the command then exits.
  return new Promise<number>((resolve) => {
    const removeHandlers = stopOnSignals(
      async () => {
        await worker.stop();
        removeHandlers();
        logger.info('stopped');
        await ended(logger);
        resolve(0);
      },
      logger,
      config.shutdownTimeoutMs,
    );
  });
});
