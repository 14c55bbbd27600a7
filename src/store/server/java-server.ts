import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';

const run = promisify(execFile);

/** Receives one line of progress at a time. */
export type BuildReporter = (line: string) => void;

/** The mongo-java-server release the project's `pom.xml` names. */
export const MONGO_JAVA_SERVER_VERSION = '1.47.0';

const POM = fileURLToPath(new URL('./java/pom.xml', import.meta.url));
const ENTRY_POINT = fileURLToPath(new URL('./java/LocalMongoServer.java', import.meta.url));

export interface JavaServerBuild {
  /** The `-cp` value: the jars and the compiled entry point. */
  classpath: string;
  mainClass: string;
}

/**
 * Returns the classpath of mongo-java-server and the project's entry point, fetching the jars
 * with Maven and compiling the entry point with javac the first time. The build folder's name
 * carries a hash of the pom and the Java source, so a change to either builds anew. Concurrent
 * callers (two terminals) wait for one build under a file lock; the folder appears in its final
 * place by an atomic rename, so nobody runs a half-copied set of jars.
 */
export async function ensureJavaServer(cacheDir: string, tools: { mvn: string; javac: string }, report: BuildReporter): Promise<JavaServerBuild> {
  const hash = createHash('sha256').update(readFileSync(POM)).update(readFileSync(ENTRY_POINT)).digest('hex').slice(0, 12);
  const parent = join(cacheDir, 'mongo-java-server');
  const buildDir = join(parent, `${MONGO_JAVA_SERVER_VERSION}-${hash}`);
  const result: JavaServerBuild = { classpath: [join(buildDir, 'lib', '*'), join(buildDir, 'classes')].join(delimiter), mainClass: 'LocalMongoServer' };
  if (existsSync(join(buildDir, 'classes', 'LocalMongoServer.class'))) return result;

  mkdirSync(parent, { recursive: true });
  const release = await lockfile.lock(parent, {
    lockfilePath: `${buildDir}.lock`,
    stale: 30_000,
    update: 5_000,
    retries: { retries: 1200, minTimeout: 500, maxTimeout: 1000, factor: 1 },
  });
  try {
    if (existsSync(join(buildDir, 'classes', 'LocalMongoServer.class'))) return result;
    const started = Date.now();
    const progress = setInterval(() => {
      report(`fetching mongo-java-server ${MONGO_JAVA_SERVER_VERSION}: ${Math.round((Date.now() - started) / 1000)} s so far`);
    }, 10_000);
    const work = `${buildDir}.build-${process.pid}`;
    try {
      report(`fetching mongo-java-server ${MONGO_JAVA_SERVER_VERSION} with Maven into ${buildDir} (first run only, under a minute)`);
      await build(tools, work);
      rmSync(buildDir, { recursive: true, force: true });
      renameSync(work, buildDir);
      report(`fetched mongo-java-server ${MONGO_JAVA_SERVER_VERSION} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      clearInterval(progress);
      rmSync(work, { recursive: true, force: true });
    }
    return result;
  } finally {
    await release();
  }
}

async function build(tools: { mvn: string; javac: string }, work: string): Promise<void> {
  const options = { maxBuffer: 64 * 1024 * 1024 };
  const step = async (what: string, command: string, args: string[]): Promise<void> => {
    try {
      await run(command, args, options);
    } catch (err) {
      const output = `${String((err as { stdout?: string }).stdout ?? '')}\n${String((err as { stderr?: string }).stderr ?? '')}`.trim();
      throw new Error(`${what} failed: ${output.split('\n').slice(-15).join('\n') || (err as Error).message}`, { cause: err });
    }
  };
  await step('fetching the mongo-java-server jars with Maven', tools.mvn, [
    '-B', '-q', '-f', POM, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${join(work, 'lib')}`,
  ]);
  await step('compiling LocalMongoServer.java', tools.javac, ['-d', join(work, 'classes'), '-cp', join(work, 'lib', '*'), ENTRY_POINT]);
}
