import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureFerretDbBinary, FERRETDB_VERSION, type BuildReporter } from './ferretdb-binary.js';
import { findOnPath } from './processes.js';

export type ServerKind = 'mongod' | 'ferretdb' | 'memory-server';

/** How to run one kind of database server as a process. */
export interface ServerRecipe {
  kind: ServerKind;
  binary: string;
  args(port: number, dataDir: string): string[];
}

function mongodRecipe(kind: ServerKind, binary: string): ServerRecipe {
  return {
    kind,
    binary,
    args: (port, dataDir) => ['--dbpath', dataDir, '--port', String(port), '--bind_ip', '127.0.0.1', '--quiet'],
  };
}

function ferretRecipe(binary: string): ServerRecipe {
  return {
    kind: 'ferretdb',
    binary,
    args: (port, dataDir) => {
      mkdirSync(join(dataDir, 'sqlite'), { recursive: true });
      return [
        `--listen-addr=127.0.0.1:${port}`,
        '--handler=sqlite',
        `--sqlite-url=file:${join(dataDir, 'sqlite')}/?_txlock=immediate&_pragma=synchronous(normal)`,
        `--state-dir=${dataDir}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ];
    },
  };
}

/**
 * Picks the server to run when no MONGODB_URI is given: a `mongod` on PATH; else FerretDB
 * (built with Go on first use); else mongodb-memory-server, which downloads a `mongod` and so
 * only works with internet access. Its binary is then run like any other `mongod`.
 */
export async function chooseRecipe(cacheDir: string, report: BuildReporter): Promise<ServerRecipe> {
  const mongod = findOnPath('mongod');
  if (mongod) return mongodRecipe('mongod', mongod);

  const go = findOnPath('go');
  if (go) return ferretRecipe(await ensureFerretDbBinary(cacheDir, go, report));

  report(`no mongod and no Go on PATH: downloading a mongod with mongodb-memory-server (needs internet; FerretDB ${FERRETDB_VERSION} would need Go)`);
  const { MongoBinary } = await import('mongodb-memory-server-core');
  return mongodRecipe('memory-server', await MongoBinary.getPath());
}
