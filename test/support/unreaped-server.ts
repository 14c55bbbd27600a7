import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chooseRecipe } from '../../src/store/server/server-recipes.js';
import { freePort, isProcessAlive, waitUntilReachable } from '../../src/store/server/processes.js';
import { PROJECT_ROOT } from './worker-process.js';
import { waitFor } from './wait-for.js';

export interface UnreapedServer {
  /** The database server's pid. */
  pid: number;
  /** `server.json` as a worker finds it in `LOCAL_DB_DIR`. */
  stateFile: string;
  /** The process state of the server: `R`, `S`, `Z` (exited, not reaped), or `gone`. */
  state(): string;
  /** Ends the parent (the server, if it still runs, and its zombie go with it). */
  dispose(): void;
}

function processState(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim().charAt(0) || 'gone';
  } catch {
    return 'gone';
  }
}

/**
 * Starts the local database server the way a worker would have left it in `dataDir` (listed in
 * `server.json`, nobody using it), under a parent that never reaps its children: what a server
 * looks like in a container whose PID 1 is not an init, or whose starter is gone and whose new
 * parent reaps late. When it exits it stays a zombie until `dispose()`.
 */
export async function startUnreapedServer(dataDir: string): Promise<UnreapedServer> {
  const recipe = await chooseRecipe({ cacheDir: resolve(PROJECT_ROOT, '.cache'), javaMaxHeap: '256m', report: () => undefined });
  const dir = join(dataDir, recipe.kind);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'server.log');
  // The shell starts the server in the background, then becomes `sleep`, which never waits for it.
  const parent = spawn('sh', ['-c', 'exec "$@" >>"$SERVER_LOG" 2>&1 & exec sleep 600', 'sh', recipe.binary, ...recipe.args(port, dir, true)], {
    env: { ...process.env, SERVER_LOG: logFile },
    stdio: 'ignore',
  });
  const parentPid = parent.pid ?? 0;
  const pid = await waitFor('the database server under its parent', () => {
    try {
      const child = Number(execFileSync('pgrep', ['-P', String(parentPid)], { encoding: 'utf8' }).trim().split('\n')[0]);
      return child > 0 ? child : undefined;
    } catch {
      return undefined;
    }
  }, 10_000);
  await waitUntilReachable(`mongodb://127.0.0.1:${port}/`, pid, logFile);
  const stateFile = join(dir, 'server.json');
  writeFileSync(stateFile, JSON.stringify({ pid, port, users: [] }));
  return {
    pid,
    stateFile,
    state: () => processState(pid),
    dispose() {
      if (processState(pid) !== 'Z' && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      parent.kill('SIGKILL');
    },
  };
}
