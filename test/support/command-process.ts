import { spawn, type ChildProcess } from 'node:child_process';
import { commandArgs, PROJECT_ROOT } from './command-line.js';

export interface CommandProcess {
  child: ChildProcess;
  /** stdout and stderr as received so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the exit code (or the signal's name) and the whole output once it exited. */
  exited: Promise<{ code: number | string; stdout: string; stderr: string }>;
}

/**
 * Runs `scripts/<script>` as `npm run` does, without a terminal (stdin is an empty pipe), for
 * tests that must signal it (Ctrl-C) or read its output while it runs.
 */
export function spawnCommand(script: string, env: Record<string, string | undefined>, args: string[]): CommandProcess {
  const child = spawn(process.execPath, [...commandArgs(script), ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin?.end();
  const exited = new Promise<{ code: number | string; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? signal ?? -1, stdout, stderr }));
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}
