import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the global setup leaves the compiled copy for the test processes. */
export const TEST_BUILD_ENV = 'TEST_BUILD_DIR';

/** The project's TypeScript that test processes run, and the files beside it that code finds by its own path. */
const SOURCE_DIRS = ['config', 'jobs', 'scripts', 'src', 'test/support'];

/**
 * Node's arguments to run one of the project's TypeScript files (`scripts/start.ts`) as its own
 * process. `npm start` and the other commands run through tsx, which transpiles with esbuild in
 * a loader thread: about 1.5 s of CPU per process start here, and the suite starts hundreds. So
 * the global setup transpiles the project once, with the same esbuild, into a folder inside the
 * project (packages and `package.json` are found as from the sources), and test processes run
 * that. Without the global setup (a file loaded some other way) it is tsx, as `npm run` has it.
 */
export function nodeArgsFor(file: string): string[] {
  const built = process.env[TEST_BUILD_ENV];
  return built ? ['--enable-source-maps', join(built, file.replace(/\.ts$/, '.js'))] : ['--import', 'tsx', file];
}

/** Transpiles SOURCE_DIRS into a new folder under `.cache/` and links every other file there; returns the folder. */
export async function compileForTests(): Promise<string> {
  const cache = join(PROJECT_ROOT, '.cache');
  await mkdir(cache, { recursive: true });
  const out = await mkdtemp(join(cache, 'test-build-'));
  const entryPoints: string[] = [];
  for (const dir of SOURCE_DIRS) {
    for (const file of await filesUnder(join(PROJECT_ROOT, dir))) {
      if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
        entryPoints.push(file);
      } else {
        const target = join(out, relative(PROJECT_ROOT, file));
        await mkdir(dirname(target), { recursive: true });
        await symlink(file, target);
      }
    }
  }
  await symlink(join(PROJECT_ROOT, 'package.json'), join(out, 'package.json'));
  await build({ entryPoints, outdir: out, outbase: PROJECT_ROOT, format: 'esm', platform: 'node', target: 'node20', sourcemap: 'inline', logLevel: 'warning' });
  return out;
}

export async function removeCompiled(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}
