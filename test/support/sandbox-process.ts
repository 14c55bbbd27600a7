import { spawn, type ChildProcess } from 'node:child_process';
import { commandArgs, PROJECT_ROOT } from './command-line.js';
import { WaitAborted, waitFor } from './wait-for.js';

export interface SandboxProcess {
  child: ChildProcess;
  url: string;
  lines: string[];
  /** Messages the sandbox accepted (optionally for one number). */
  messages(to?: string): Promise<{ to: string; type: string; callbackData?: string; acceptedAt: string }[]>;
  stop(): Promise<void>;
}

/** Runs `npm run sandbox` as its own process, so that it outlives killed workers. */
export async function spawnSandbox(env: Record<string, string>, args: string[]): Promise<SandboxProcess> {
  const child = spawn(process.execPath, [...commandArgs('sandbox'), '--port', '0', ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  child.stdout?.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  child.stderr?.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await waitFor('the sandbox to listen', () => {
    if (child.exitCode !== null) throw new WaitAborted(`sandbox exited: ${lines.join('\n')}`);
    for (const line of lines) {
      const match = /sandbox listening on (http:\/\/[^\s"]+)/.exec(line);
      if (match?.[1]) return match[1];
    }
    return undefined;
  }, 30_000);
  return {
    child,
    url,
    lines,
    async messages(to) {
      const response = await fetch(`${url}/_sandbox/messages${to ? `?to=${to}` : ''}`);
      const body = (await response.json()) as { messages?: unknown[] } | unknown[];
      return (Array.isArray(body) ? body : (body.messages ?? [])) as { to: string; type: string; callbackData?: string; acceptedAt: string }[];
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
