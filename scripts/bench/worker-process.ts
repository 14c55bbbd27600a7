import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Starts `npm start` (scripts/start.ts) against `uri` and resolves with its URL and a stop. */
export async function spawnWorkerForBench(uri: string, db: string): Promise<{ url: string; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('../start.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, MONGODB_URI: uri, MONGODB_DB: db, PORT: '0', HOST: '127.0.0.1', SANDBOX_PORT: '0', SANDBOX_MPS: '0', NODE_ENV: 'production', LOG_LEVEL: 'info' },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const match = /worker listening on (http:\/\/[^\s"\\]+)/.exec(line);
    if (match?.[1]) {
      child.stdout?.resume();
      return {
        url: match[1],
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
  }
  throw new Error('the worker exited before it listened');
}
