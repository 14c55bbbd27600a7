import { startDatabaseServer, type DatabaseServer } from '../../src/store/server/local-server.js';
import { setTestServer } from './test-server.js';

let server: DatabaseServer | undefined;

/** How long the process may take to exit once the suite is done before it counts as a leak. */
const EXIT_GRACE_MS = 5000;

/**
 * One throwaway database server for the whole run (or MONGODB_URI when set); each test file
 * makes its own database on it. After the suite, a process that is still alive after
 * EXIT_GRACE_MS is held open by something a test left running (a server, timer, socket or
 * child process): the run then fails and names what is left, instead of hanging.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(10 * 60_000); // the first run on a machine fetches mongo-java-server with Maven
    server = await startDatabaseServer({
      uri: process.env.MONGODB_URI,
      mode: 'throwaway',
      javaMaxHeap: process.env.LOCAL_DB_MAX_HEAP,
      report: (line) => console.log(`  ${line}`),
    });
    setTestServer(server);
  },

  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(30_000);
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
  },
};
