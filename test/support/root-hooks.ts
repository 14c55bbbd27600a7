import { startDatabaseServer, type DatabaseServer } from '../../src/store/server/local-server.js';
import { buildCommands } from './command-line.js';
import { TEST_SERVER_ENV } from './test-server.js';

let server: DatabaseServer | undefined;

/** How long the process may take to exit once the suite is done before it counts as a leak. */
const EXIT_GRACE_MS = 5000;

/**
 * One throwaway database server for the whole run (or MONGODB_URI when set), started once in
 * mocha's main process; each test file makes its own database on it. The server's address goes
 * into the environment, which is how the worker processes of `--parallel` find it (they are
 * forked after this setup). The commands that tests start as processes are transpiled first,
 * once (scripts/run.mjs).
 */
export async function mochaGlobalSetup(): Promise<void> {
  buildCommands();
  server = await startDatabaseServer({
    uri: process.env.MONGODB_URI,
    mode: 'throwaway',
    javaMaxHeap: process.env.LOCAL_DB_MAX_HEAP,
    report: (line) => console.log(`  ${line}`),
  });
  process.env[TEST_SERVER_ENV.uri] = server.uri;
  process.env[TEST_SERVER_ENV.source] = server.source;
}

/**
 * Stops the server. A main process that is still alive EXIT_GRACE_MS later is held open by
 * something a test left running (a server, timer, socket or child process): the run then fails
 * and names what is left, instead of hanging. (In `--parallel` runs the tests run in mocha's
 * worker processes, which mocha ends itself.)
 */
export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
  const watchdog = setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((type) => !['PipeWrap', 'TTYWrap', 'FSReqCallback'].includes(type));
    console.error(`\nFAIL: tests left resources running ${EXIT_GRACE_MS} ms after the suite ended: ${left.join(', ') || process.getActiveResourcesInfo().join(', ')}`);
    // mocha's own 'exit' listener sets the exit code from the test results; this one runs after it.
    process.on('exit', () => {
      process.exitCode = 1;
    });
    process.exit(1);
  }, EXIT_GRACE_MS);
  watchdog.unref();
}
