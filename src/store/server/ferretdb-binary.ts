import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';

const run = promisify(execFile);

export const FERRETDB_VERSION = 'v1.24.2';
const MODULE = 'github.com/FerretDB/FerretDB';

/** Receives one line of progress at a time. */
export type BuildReporter = (line: string) => void;

/**
 * Returns the path of the FerretDB binary in `cacheDir`, building it with Go the first time.
 * Concurrent callers (two terminals) wait for one build under a file lock; the binary appears
 * in its final place by an atomic rename, so nobody runs a half-written file.
 */
export async function ensureFerretDbBinary(cacheDir: string, go: string, report: BuildReporter): Promise<string> {
  const versionDir = join(cacheDir, 'ferretdb', FERRETDB_VERSION);
  const binary = join(versionDir, 'ferretdb');
  if (existsSync(binary)) return binary;

  mkdirSync(versionDir, { recursive: true });
  const release = await lockfile.lock(versionDir, {
    lockfilePath: `${versionDir}.lock`,
    stale: 30_000,
    update: 5_000,
    retries: { retries: 1200, minTimeout: 500, maxTimeout: 1000, factor: 1 },
  });
  try {
    if (existsSync(binary)) return binary;
    const started = Date.now();
    const progress = setInterval(() => {
      report(`building FerretDB ${FERRETDB_VERSION}: ${Math.round((Date.now() - started) / 1000)} s so far`);
    }, 10_000);
    const work = join(versionDir, `build-${process.pid}`);
    try {
      report(`building FerretDB ${FERRETDB_VERSION} with Go into ${versionDir} (first run only, about two minutes)`);
      await build(go, work);
      renameSync(join(work, 'bin', 'ferretdb'), binary);
      report(`built FerretDB ${FERRETDB_VERSION} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      clearInterval(progress);
      rmSync(work, { recursive: true, force: true });
    }
    return binary;
  } finally {
    await release();
  }
}

/**
 * Why not a plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the binary it
 * makes panics at start, because FerretDB reads its version from `build/version/version.txt`,
 * which its release process writes from `git describe` and which the module archive lacks (and
 * some module proxies refuse the version listing that `go install pkg@version` reads). So this
 * downloads exactly that version's checksummed module, writes the version file the release
 * process would write, and runs `go install ./cmd/ferretdb` in that copy.
 */
async function build(go: string, work: string): Promise<void> {
  const env = { ...process.env, GOFLAGS: '-buildvcs=false', GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOBIN: join(work, 'bin') };
  const options = { env, maxBuffer: 64 * 1024 * 1024 };
  try {
    const download = await run(go, ['mod', 'download', '-json', `${MODULE}@${FERRETDB_VERSION}`], options);
    const moduleDir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
    if (!moduleDir) throw new Error(`go mod download gave no module folder: ${download.stdout}`);
    const source = join(work, 'src');
    cpSync(moduleDir, source, { recursive: true });
    await run('chmod', ['-R', 'u+w', source]); // the module cache is read-only
    writeFileSync(join(source, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    await run(go, ['install', '-trimpath', './cmd/ferretdb'], { ...options, cwd: source });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`building FerretDB ${FERRETDB_VERSION} with ${go} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}
