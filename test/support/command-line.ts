import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node's arguments to run command `name` (`start` or `start.ts`: scripts/start.ts) as `npm run start` does, from any folder. */
export function commandArgs(name: string): string[] {
  return [join(PROJECT_ROOT, 'scripts/run.mjs'), name.replace(/\.ts$/, '')];
}

/** package.json's `start` script, read once. */
let START_SCRIPT: string | undefined;

/**
 * How `npm start` starts the worker: `sh -c` with package.json's `start` script (which gives node
 * its heap flags, then `exec`s it: the process is node itself) and the arguments appended. Spawn
 * `sh` with these arguments in PROJECT_ROOT, with `npmStartPath` as PATH.
 */
export function npmStartArgs(args: readonly string[]): string[] {
  START_SCRIPT ??= (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  return ['-c', `${START_SCRIPT} "$@"`, 'sh', ...args];
}

/** PATH with the `node` of this process first, as npm puts the node it runs on first. */
export function npmStartPath(path = process.env.PATH): string {
  return [dirname(process.execPath), ...(path ? [path] : [])].join(delimiter);
}

/**
 * Transpiles the commands before a run starts its processes, which would each find the sources
 * changed and build them at once (correct, but the same work many times over).
 */
export function buildCommands(): void {
  execFileSync(process.execPath, ['scripts/run.mjs', '--build'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
