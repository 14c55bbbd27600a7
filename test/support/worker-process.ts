import { spawn, type ChildProcess } from 'node:child_process';
import { npmStartArgs, npmStartPath, PROJECT_ROOT } from './command-line.js';
import { WaitAborted, waitFor } from './wait-for.js';

export { PROJECT_ROOT };

export interface WorkerProcess {
  child: ChildProcess;
  /** stdout and stderr lines so far. */
  lines: string[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Waits for the "worker listening on URL" line and returns the URL. */
  url(timeoutMs?: number): Promise<string>;
}

/**
 * Runs the worker exactly as `npm start` does (package.json's `start` script: its node flags, and
 * `NODE_OPTIONS` from `env` after them), with the given environment (no daily runs unless it
 * names a DAILY_RUNS_FILE). The child is the node process.
 */
export function spawnWorker(env: Record<string, string | undefined>, args: string[] = []): WorkerProcess {
  const child = spawn('sh', npmStartArgs(args), {
    cwd: PROJECT_ROOT,
    env: { PATH: npmStartPath(), HOME: process.env.HOME, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', SANDBOX_PORT: '0', DAILY_RUNS_FILE: 'test/support/no-daily-runs.json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    lines,
    exited,
    url: (timeoutMs = 60_000) =>
      waitFor(`the worker to listen (output so far: ${lines.slice(-5).join(' | ')})`, () => {
        for (const line of lines) {
          const match = /worker listening on (http:\/\/[^\s"\\]+)/.exec(line);
          if (match?.[1]) return match[1];
        }
        if (child.exitCode !== null) throw new WaitAborted(`worker exited with ${child.exitCode}: ${lines.join('\n')}`);
        return undefined;
      }, timeoutMs),
  };
}
