import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node's arguments to run command `name` (scripts/<name>.ts) as `npm run <name>` does. */
export function commandArgs(name: string): string[] {
  return ['scripts/run.mjs', name];
}

/**
 * Transpiles the commands before a run starts its processes, which would each find the sources
 * changed and build them at once (correct, but the same work many times over).
 */
export function buildCommands(): void {
  execFileSync(process.execPath, ['scripts/run.mjs', '--build'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
