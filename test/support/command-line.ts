import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node's arguments to run command `name` (`start` or `start.ts`: scripts/start.ts) as `npm run start` does, from any folder. */
export function commandArgs(name: string): string[] {
  return [join(PROJECT_ROOT, 'scripts/run.mjs'), name.replace(/\.ts$/, '')];
}

/**
 * Transpiles the commands before a run starts its processes, which would each find the sources
 * changed and build them at once (correct, but the same work many times over).
 */
export function buildCommands(): void {
  execFileSync(process.execPath, ['scripts/run.mjs', '--build'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
