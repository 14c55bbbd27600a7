import { PassThrough } from 'node:stream';
import { loadConfig, type Config } from '../../config/index.js';
import { createLogger, type Logger } from '../../src/app/logger.js';

/**
 * Credentials of our own for a worker that talks to an external API (a sandbox in another
 * process): the worker refuses the built-in sandbox values there.
 */
export const EXTERNAL_API_CREDENTIALS = Object.freeze({
  WHATSAPP_TOKEN: 'e2e-token-1234',
  WHATSAPP_APP_SECRET: 'e2e-app-secret-1234',
  WHATSAPP_VERIFY_TOKEN: 'e2e-verify-1234',
  SUPPRESSION_KEY: 'e2e-suppression-key-1234',
});

/** A config for a worker under test: its own database, a free port, quiet logs, no daily runs unless asked for. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', JOB_POLL_INTERVAL_MS: '200', JOB_LOCK_LIFETIME_MS: '2000', SANDBOX_PORT: '0', DAILY_RUNS_FILE: 'test/support/no-daily-runs.json', ...overrides });
}

/** A logger whose lines are kept in memory, for assertions about what was logged. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  return { logger: createLogger({ level, json: true, pii: false, stream }), lines };
}
