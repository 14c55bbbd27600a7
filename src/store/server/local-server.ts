import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';
import { chooseRecipe, type ServerRecipe } from './server-recipes.js';
import { describeServer, freePort, isProcessAlive, pings, spawnServer, stopProcess, crashExcerpt, waitUntilReachable } from './processes.js';

export interface DatabaseServer {
  /** Where the server came from. */
  source: 'MONGODB_URI' | ServerRecipe['kind'];
  uri: string;
  /** One line for humans: server, version, address and data folder. */
  description: string;
  /** Stops the server if this process started it (or was its last user). */
  stop(): Promise<void>;
  /** For tests only: stops the server process, keeping its data, and `restart` brings it back on the same port. */
  pause?(): Promise<void>;
  restart?(): Promise<void>;
}

export interface ServerOptions {
  /** A configured URI wins over everything else. */
  uri?: string | undefined;
  /**
   * `local`: data kept in `dataDir`, one server shared by every process on this machine that
   * uses the same folder (two terminals), stopped when its last user stops.
   * `throwaway`: a private server on a temporary folder, deleted on stop (tests).
   */
  mode: 'local' | 'throwaway';
  dataDir?: string;
  /**
   * With `throwaway`: keep the data on disk, so that `pause` and `restart` bring the same data
   * back (a memory-only server would come back empty). Local servers always keep their data.
   */
  persistent?: boolean;
  /** Where the mongo-java-server jars are cached; default `.cache` in the working folder. */
  cacheDir?: string;
  /** The heap cap of mongo-java-server (`-Xmx`); default `512m`. */
  javaMaxHeap?: string;
  report: (line: string) => void;
}

export const DEFAULT_JAVA_MAX_HEAP = '512m';
/** How long a local server with data may take to open its store. */
const LOCAL_OPEN_TIMEOUT_MS = 5 * 60_000;

function maskCredentials(uri: string): string {
  return uri.replace(/\/\/[^@/]+@/, '//***@');
}

/** Chooses, starts (or joins) and describes the database server, and reports it in one line. */
export async function startDatabaseServer(options: ServerOptions): Promise<DatabaseServer> {
  if (options.uri) {
    const what = await describeServer(options.uri);
    const description = `${what} at ${maskCredentials(options.uri)} (from MONGODB_URI)`;
    options.report(`database: ${description}`);
    return { source: 'MONGODB_URI', uri: options.uri, description, stop: async () => undefined };
  }
  const recipe = await chooseRecipe({
    cacheDir: resolve(options.cacheDir ?? '.cache'),
    javaMaxHeap: options.javaMaxHeap ?? DEFAULT_JAVA_MAX_HEAP,
    report: options.report,
  });
  const server = options.mode === 'local'
    ? await joinSharedServer(recipe, resolve(options.dataDir ?? '.data', recipe.kind), options.report)
    : await startThrowawayServer(recipe, options.persistent ?? false, options.report);
  options.report(`database: ${server.description}`);
  return server;
}

/** What the server says it is, or the recipe's own name where buildInfo would mislead. */
async function describe(recipe: ServerRecipe, uri: string, persistent: boolean): Promise<string> {
  return recipe.label ? recipe.label(persistent) : describeServer(uri);
}

async function startThrowawayServer(recipe: ServerRecipe, persistent: boolean, report: (line: string) => void): Promise<DatabaseServer> {
  const dir = mkdtempSync(join(tmpdir(), `optin-${recipe.kind}-`));
  const port = await freePort();
  const uri = `mongodb://127.0.0.1:${port}/`;
  const logFile = join(dir, 'server.log');
  let pid = 0;
  let stopping = false;
  const killOnExit = (): void => {
    if (pid && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  };
  const launch = async (): Promise<void> => {
    if (pid && isProcessAlive(pid)) return;
    stopping = false;
    const spawned = spawnServer(recipe.binary, recipe.args(port, dir, persistent), logFile, false);
    pid = spawned.pid;
    // A server that dies under the tests would otherwise only show as refused connections.
    spawned.child.once('exit', (code, signal) => {
      if (!stopping) report(`database server (pid ${spawned.pid}) exited unexpectedly (${signal ?? `code ${code}`}); its log says:\n${crashExcerpt(logFile)}`);
    });
    await waitUntilReachable(uri, pid, logFile);
  };
  const halt = async (): Promise<void> => {
    stopping = true;
    await stopProcess(pid);
  };
  process.on('exit', killOnExit);
  await launch();
  const description = `${await describe(recipe, uri, persistent)} at ${uri} (throwaway${persistent ? `, data in ${dir}` : ''})`;
  return {
    source: recipe.kind,
    uri,
    description,
    stop: async () => {
      await halt();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
    pause: halt,
    restart: launch,
  };
}

interface SharedState {
  pid: number;
  port: number;
  users: number[];
}

/**
 * One local server per data folder, shared by every process that uses the folder. The state
 * file says which process serves it and who uses it; it is only read and written under a lock,
 * so two workers started at the same moment cannot start two servers on the same files.
 * The server runs detached: a worker killed with SIGKILL leaves it running for the next one.
 */
async function joinSharedServer(recipe: ServerRecipe, dataDir: string, report: (line: string) => void): Promise<DatabaseServer> {
  mkdirSync(dataDir, { recursive: true });
  const stateFile = join(dataDir, 'server.json');
  const logFile = join(dataDir, 'server.log');
  const withLock = async <T>(fn: () => Promise<T>): Promise<T> => {
    const release = await lockfile.lock(dataDir, {
      lockfilePath: join(dataDir, 'server.lock'),
      stale: 30_000,
      retries: { retries: 800, minTimeout: 100, maxTimeout: 500 },
    });
    try {
      return await fn();
    } finally {
      await release();
    }
  };
  const readState = (): SharedState | undefined => {
    try {
      return JSON.parse(readFileSync(stateFile, 'utf8')) as SharedState;
    } catch {
      return undefined;
    }
  };

  const state = await withLock(async () => {
    const current = readState();
    if (current && isProcessAlive(current.pid) && (await pings(`mongodb://127.0.0.1:${current.port}/`))) {
      const next = { ...current, users: [...current.users.filter(isProcessAlive), process.pid] };
      writeFileSync(stateFile, JSON.stringify(next));
      return next;
    }
    if (current && isProcessAlive(current.pid)) await stopProcess(current.pid);
    const port = await freePort();
    const { pid } = spawnServer(recipe.binary, recipe.args(port, dataDir, true), logFile, true);
    // Opening a large store takes a while (mongo-java-server's H2 backend rebuilds its indexes:
    // 12-46 s for 100,000 contacts): say so instead of looking stuck.
    const started = Date.now();
    const progress = setInterval(() => report(`waiting for the local database server to open ${dataDir}: ${Math.round((Date.now() - started) / 1000)} s so far`), 10_000);
    try {
      await waitUntilReachable(`mongodb://127.0.0.1:${port}/`, pid, logFile, LOCAL_OPEN_TIMEOUT_MS);
    } finally {
      clearInterval(progress);
    }
    const next = { pid, port, users: [process.pid] };
    writeFileSync(stateFile, JSON.stringify(next));
    return next;
  });

  const uri = `mongodb://127.0.0.1:${state.port}/`;
  const shared = state.users.length > 1 ? `, shared with pid ${state.users.filter((p) => p !== process.pid).join(', ')}` : '';
  return {
    source: recipe.kind,
    uri,
    description: `${await describe(recipe, uri, true)} at ${uri} (data in ${dataDir}${shared})`,
    stop: () =>
      withLock(async () => {
        const current = readState();
        if (!current || current.pid !== state.pid) return;
        const users = current.users.filter((p) => p !== process.pid && isProcessAlive(p));
        if (users.length > 0) {
          writeFileSync(stateFile, JSON.stringify({ ...current, users }));
          return;
        }
        await stopProcess(current.pid);
        rmSync(stateFile, { force: true });
      }),
  };
}
