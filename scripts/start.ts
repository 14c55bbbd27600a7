import { loadConfig, readEnvFile } from '../config/index.js';
import { stopOnSignals } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { systemClock } from '../src/app/system-clock.js';
import { startWorker } from '../src/app/worker.js';
import { ConfigError } from '../src/domain/errors.js';

const HELP = `Usage: npm start

Runs the worker: webhooks, health and metrics over HTTP, and the scheduled jobs.
Configuration comes from the environment and an optional .env file (see .env.example).
Without MONGODB_URI a local database server is started and its data kept in LOCAL_DB_DIR.
Stop with Ctrl-C or SIGTERM; a second signal forces the exit.`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}

let config;
try {
  config = loadConfig(process.env, readEnvFile());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`error: ${err.message}`);
  process.exit(78);
}

const logger = createLogger({
  level: config.log.level,
  json: config.env === 'production',
  pii: config.log.pii,
  defaultMeta: { service: 'worker', pid: process.pid },
});

try {
  const worker = await startWorker(config, logger, systemClock);
  const removeHandlers = stopOnSignals(
    async () => {
      await worker.stop();
      removeHandlers();
      logger.info('stopped');
      // Agenda 6 leaves a timer per job run (lockLifetime / 2) that would hold the process
      // open after everything is stopped; nothing is left to finish, so exit now.
      await new Promise<void>((resolve) => {
        logger.on('finish', resolve);
        logger.end();
        setTimeout(resolve, 500).unref();
      });
      process.exit(0);
    },
    logger,
    config.shutdownTimeoutMs,
  );
} catch (err) {
  logger.error(`worker failed to start: ${(err as Error).message}`);
  process.exitCode = 1;
}
