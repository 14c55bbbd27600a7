import { request } from 'node:https';
import { join } from 'node:path';
import { ensureJavaServer, MONGO_JAVA_SERVER_VERSION, type BuildReporter } from './java-server.js';
import { findOnPath } from './processes.js';

export type ServerKind = 'mongod' | 'memory-server' | 'mongo-java-server';

/** How to run one kind of database server as a process. */
export interface ServerRecipe {
  kind: ServerKind;
  binary: string;
  /** `persistent`: keep the data in `dataDir` across restarts (local runs); else a throwaway server. */
  args(port: number, dataDir: string, persistent: boolean): string[];
  /** A name for humans when the server's own buildInfo would mislead (mongo-java-server says "5.0.0"). */
  label?(persistent: boolean): string;
}

export interface RecipeOptions {
  cacheDir: string;
  /** The Java heap cap of mongo-java-server, as `-Xmx` takes it (`512m`). */
  javaMaxHeap: string;
  report: BuildReporter;
  /** How long the reachability probe of mongodb-memory-server's download may take. */
  downloadProbeMs?: number;
}

function mongodRecipe(kind: ServerKind, binary: string): ServerRecipe {
  return {
    kind,
    binary,
    args: (port, dataDir) => ['--dbpath', dataDir, '--port', String(port), '--bind_ip', '127.0.0.1', '--quiet'],
  };
}

function javaRecipe(java: string, classpath: string, mainClass: string, maxHeap: string): ServerRecipe {
  return {
    kind: 'mongo-java-server',
    binary: java,
    args: (port, dataDir, persistent) => [
      `-Xmx${maxHeap}`,
      '-XX:+ExitOnOutOfMemoryError',
      '-cp', classpath, mainClass,
      '--host', '127.0.0.1', '--port', String(port),
      ...(persistent ? ['--file', join(dataDir, 'data.mv')] : []),
    ],
    label: (persistent) => `mongo-java-server ${MONGO_JAVA_SERVER_VERSION} (${persistent ? 'H2 backend' : 'memory backend'}, heap at most ${maxHeap})`,
  };
}

/**
 * Picks the server to run when no MONGODB_URI is given, the first that works:
 * 1. a `mongod` on PATH;
 * 2. a real `mongod` from mongodb-memory-server: one already in its cache, or one it can
 *    download (a quick probe of the download address first, so an offline machine moves on
 *    within seconds instead of hanging);
 * 3. mongo-java-server with the installed Java, its jars fetched with Maven on first use.
 */
export async function chooseRecipe(options: RecipeOptions): Promise<ServerRecipe> {
  const mongod = findOnPath('mongod');
  if (mongod) return mongodRecipe('mongod', mongod);

  const downloaded = await memoryServerMongod(options.report, options.downloadProbeMs ?? 5000);
  if (downloaded) return mongodRecipe('memory-server', downloaded);

  const java = javaTool('java');
  const javac = javaTool('javac');
  const mvn = findOnPath('mvn');
  const missing = [!java && 'java', !javac && 'javac', !mvn && 'mvn'].filter(Boolean);
  if (!java || !javac || !mvn) {
    throw new Error(
      `no database server available: set MONGODB_URI, put a mongod on PATH, or install Java 17+ and Maven for mongo-java-server (missing: ${missing.join(', ')})`,
    );
  }
  const build = await ensureJavaServer(options.cacheDir, { mvn, javac }, options.report);
  return javaRecipe(java, build.classpath, build.mainClass, options.javaMaxHeap);
}

function javaTool(name: string): string | undefined {
  const home = process.env.JAVA_HOME;
  return (home ? findOnPath(name, join(home, 'bin')) : undefined) ?? findOnPath(name);
}

/** A mongod from mongodb-memory-server's cache, or downloaded when its address answers. */
async function memoryServerMongod(report: BuildReporter, probeMs: number): Promise<string | undefined> {
  const { DryMongoBinary, MongoBinary } = await import('mongodb-memory-server-core');
  const options = await DryMongoBinary.generateOptions();
  const cached = await DryMongoBinary.locateBinary(options);
  if (cached) return cached;

  const { MongoBinaryDownloadUrl } = await import('mongodb-memory-server-core/lib/util/MongoBinaryDownloadUrl.js');
  let url: string;
  try {
    url = await new MongoBinaryDownloadUrl(options).getDownloadUrl();
  } catch (err) {
    report(`mongodb-memory-server has no mongod for this system (${(err as Error).message}): using mongo-java-server`);
    return undefined;
  }
  const problem = await probe(url, probeMs);
  if (problem) {
    report(`cannot download a mongod (${new URL(url).host}: ${problem}): using mongo-java-server`);
    return undefined;
  }
  report(`downloading mongod ${options.version} with mongodb-memory-server into ${options.downloadDir} (first run only)`);
  try {
    return await MongoBinary.getPath(options);
  } catch (err) {
    report(`downloading mongod failed (${(err as Error).message}): using mongo-java-server`);
    return undefined;
  }
}

/** Undefined when `url` answers a HEAD request with a success or redirect, else why not. */
function probe(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'HEAD', timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? undefined : `HTTP ${status}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}
