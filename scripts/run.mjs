// Runs one of the project's commands, `node scripts/run.mjs <name> [args]` for scripts/<name>.ts
// (the npm scripts call it), from JavaScript that esbuild transpiled from the TypeScript sources.
//
// Why not tsx, as before: tsx transpiles in a loader thread of the running process, which cost
// about 1.5 s of CPU at every start and 44 MB of memory for as long as the process runs (a
// worker's peak RSS 272 MB with it). Transpiling is the same (tsx uses esbuild too); it now
// happens once per change of the sources, into `.cache/build/<key>/`, where the key comes from
// the path, size and modification time of every source file, so a changed file is never run
// stale. A build is written to a folder of its own and renamed into place when complete: any
// number of processes can start at once, and a killed build leaves nothing half-written behind.
// Error stacks point into the TypeScript (source maps).
//
// Each command is one bundle with the packages it uses (chunks shared between commands): loading
// some 1,500 modules one by one cost a worker 1.7 s of CPU at every start, `--help` of a command
// about 1 s; bundled, 0.7 and 0.5 s. The MongoDB driver stays outside the bundles (it is loaded
// from node_modules), and so do a few packages that find files beside themselves.
// `import.meta.url` in the project's own sources names the source file, so files found beside
// it (the rate card, the Java entry point, package.json) are read where they are.
//
// `node scripts/run.mjs --build` only builds and prints the folder.
// Plain JavaScript, because it must run before anything is transpiled.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** What the commands are made of. The benchmarks (scripts/bench*) import test helpers and run through tsx. */
const SOURCE_DIRS = ['config', 'jobs', 'scripts', 'src'];
const NOT_BUILT = new Set(['scripts/bench', 'scripts/bench.ts', 'scripts/run.mjs']);
const BUILDS = join(ROOT, '.cache', 'build');
const COMPLETE = '.complete';
/** Builds other than the current one are removed once this old (a process may still be using one). */
const KEEP_OLD_BUILDS_MS = 24 * 60 * 60 * 1000;

async function sourceFiles() {
  const files = [];
  const walk = async (dir) => {
    for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (NOT_BUILT.has(rel)) continue;
      if (entry.isDirectory()) await walk(rel);
      else if (entry.isFile()) files.push(rel);
    }
  };
  for (const dir of SOURCE_DIRS) await walk(dir);
  return files.sort();
}

async function buildKey(files) {
  const hash = createHash('sha256');
  // The compiler's own file stands for its version (importing it only for that costs 0.2 s).
  // The bundles hold the installed packages: npm writes node_modules/.package-lock.json at every install.
  const installed = [join(ROOT, 'package-lock.json'), join(ROOT, 'node_modules', '.package-lock.json')];
  for (const path of [...files.map((rel) => join(ROOT, rel)), join(ROOT, 'package.json'), ...installed, fileURLToPath(import.meta.url), createRequire(import.meta.url).resolve('esbuild')]) {
    const s = await stat(path).catch(() => undefined);
    hash.update(`${relative(ROOT, path)} ${s ? `${s.size} ${s.mtimeMs}` : 'none'}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Packages the bundles leave to node_modules: the MongoDB driver (driver-repair.ts mends a class
 * of it by path), and those that find files beside themselves (a script to fork, a worker
 * thread), which a bundle would look for beside the bundle.
 */
const LOADED_FROM_NODE_MODULES = ['mongodb', 'mongodb-memory-server-core', 'node-cron', 'pino', 'thread-stream'];

/** Gives `import.meta.url` in the project's sources the URL of the source file, not the bundle's. */
const OWN_URL = {
  name: 'own-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      if (path.includes('/node_modules/')) return undefined;
      const text = await readFile(path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)), loader: 'ts' };
    });
  },
};

async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The folder of a complete build of the current sources, built first if there is none. */
export async function ensureBuilt() {
  const files = await sourceFiles();
  const dir = join(BUILDS, await buildKey(files));
  if (await exists(join(dir, COMPLETE))) return dir;
  const { build } = await import('esbuild');
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await build({
      entryPoints: files.filter((f) => /^scripts\/[a-z][a-z-]*\.ts$/.test(f)).map((f) => join(ROOT, f)),
      outdir: tmp, outbase: ROOT, format: 'esm', platform: 'node', target: 'node20', logLevel: 'silent',
      bundle: true, splitting: true, chunkNames: 'chunks/[name]-[hash]', external: LOADED_FROM_NODE_MODULES,
      sourcemap: 'linked', sourcesContent: false,
      // Packages written as CommonJS call require() for node's modules; an ES module has none.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      plugins: [OWN_URL],
    });
    await writeFile(join(tmp, COMPLETE), '');
    await rename(tmp, dir).catch(async (err) => {
      if (!(await exists(join(dir, COMPLETE)))) throw err; // else another process built the same sources first
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await removeOldBuilds(dir);
  return dir;
}

async function removeOldBuilds(current) {
  for (const entry of await readdir(BUILDS).catch(() => [])) {
    const path = join(BUILDS, entry);
    if (path === current) continue;
    const s = await stat(path).catch(() => undefined);
    if (s && Date.now() - s.mtimeMs > KEEP_OLD_BUILDS_MS) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function main() {
  const [name, ...args] = process.argv.slice(2);
  if (name === '--build') {
    console.log(relative(ROOT, await ensureBuilt()));
    return;
  }
  let dir;
  try {
    dir = await ensureBuilt();
  } catch (err) {
    console.error(`error: the sources do not compile: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  const entry = join(dir, 'scripts', `${name}.js`);
  if (!name || !/^[a-z][a-z-]*$/.test(name) || !(await exists(entry))) {
    const known = (await readdir(join(dir, 'scripts'))).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
    console.error(`error: no command ${JSON.stringify(name ?? '')}: one of ${known.join(', ')}`);
    process.exit(2);
  }
  process.setSourceMapsEnabled(true);
  // The command reads its arguments from process.argv as if it had been started itself.
  process.argv = [process.argv[0], entry, ...args];
  await import(pathToFileURL(entry).href);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
