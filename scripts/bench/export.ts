import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ensureIndexes } from '../../src/store/database.js';
import { INDEX_DECLARATIONS } from '../../src/store/index-declarations.js';
import { startDatabaseServer } from '../../src/store/server/local-server.js';
import { commandArgs } from '../../test/support/command-line.js';
import { peakRssMb } from '../../test/support/process-stats.js';
import { phoneFor, seedSubscribers } from '../../test/support/seed.js';
import { integersFromEnv, round, type Benchmark, type BenchRow } from './benchmark.js';
import { serverName } from './fan-out.js';

const IMPORT_ROWS = 100_000;

/** Runs `npm run <script>` as its own process, as an operator does; its time and peak RSS (read from /proc while it runs). */
async function timed(script: string, args: string[], env: Record<string, string>): Promise<{ seconds: number; peakRssMb: number; stdout: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [...commandArgs(script), ...args], {
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  let peak = 0;
  const sample = setInterval(() => {
    peak = Math.max(peak, child.pid === undefined ? 0 : (peakRssMb(child.pid) ?? 0));
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sample);
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
  return { seconds: (performance.now() - started) / 1000, peakRssMb: peak, stdout };
}

/**
 * `npm run export` of N contacts (default 100,000; --subscribers 1000000 for a million) as a
 * process of its own, to a file as CSV: rows per second (the time of the same command
 * exporting nothing, its start-up, taken off) and the process's peak RSS, which should stay
 * flat as N grows; beside it the rate of a bare cursor over the same documents in this process
 * (the baseline). Then `npm run import` of 100,000 rows into an empty database the same way.
 */
export const benchmark: Benchmark = {
  name: 'export',
  flags: ['subscribers'],
  async run(context) {
    const sizes = context.options.subscribers ?? integersFromEnv('BENCH_EXPORT_SUBSCRIBERS', '100000');
    const largest = Math.max(...sizes, IMPORT_ROWS);
    const server = await startDatabaseServer({
      uri: process.env.MONGODB_URI, mode: 'throwaway', report: (line) => context.progress(line),
      javaMaxHeap: process.env.LOCAL_DB_MAX_HEAP ?? (largest > 200_000 ? '8g' : '3g'),
    });
    const client = new MongoClient(server.uri);
    const dir = mkdtempSync(join(tmpdir(), 'bench-export-'));
    const rows: BenchRow[] = [];
    const dbs: string[] = [];
    try {
      for (const subscribers of sizes) {
        const dbName = `bench_export_${subscribers}_${Date.now()}`;
        dbs.push(dbName);
        const db = client.db(dbName);
        await ensureIndexes(db, INDEX_DECLARATIONS);
        context.progress(`seeding ${subscribers} subscribers ...`);
        const seeded = performance.now();
        await seedSubscribers(db, { count: subscribers });
        const insertPerSec = subscribers / ((performance.now() - seeded) / 1000);
        const rawStarted = performance.now();
        let read = 0;
        for await (const _doc of db.collection('contacts').find().batchSize(1000)) read += 1;
        const rawReadPerSec = read / ((performance.now() - rawStarted) / 1000);

        const env = { MONGODB_URI: server.uri, MONGODB_DB: dbName };
        context.progress(`export of ${subscribers} contacts ...`);
        const empty = await timed('export.ts', ['--status', 'removed', '--out', join(dir, 'empty.csv')], env);
        const file = join(dir, `contacts-${subscribers}.csv`);
        const full = await timed('export.ts', ['--out', file], env);
        const seconds = Math.max(0.001, full.seconds - empty.seconds);
        const record = {
          subscribers, server: serverName(server), node: process.version, format: 'csv', fileMb: round(statSync(file).size / 1048576, 1),
          exportSeconds: round(full.seconds, 2), startupSeconds: round(empty.seconds, 2), exportRowsPerSec: Math.round(subscribers / seconds),
          exportPeakRssMb: full.peakRssMb, emptyExportPeakRssMb: empty.peakRssMb, rawCursorRowsPerSec: Math.round(rawReadPerSec), rawInsertPerSec: Math.round(insertPerSec),
          ratioToRawCursor: round(subscribers / seconds / rawReadPerSec, 2),
        };
        context.record(record);
        rmSync(file, { force: true });
        rows.push(
          { name: 'export', metric: `${subscribers} contacts as CSV: rows/s (start-up taken off)`, value: record.exportRowsPerSec },
          { name: 'export', metric: `${subscribers} contacts: peak RSS of the process, MiB (exporting nothing: ${empty.peakRssMb})`, value: record.exportPeakRssMb },
          { name: 'export', metric: `${subscribers} contacts: bare cursor in the bench process, rows/s`, value: record.rawCursorRowsPerSec },
        );
        await db.dropDatabase();
      }

      const importDb = `bench_import_${Date.now()}`;
      dbs.push(importDb);
      await ensureIndexes(client.db(importDb), INDEX_DECLARATIONS);
      const csv = join(dir, 'import.csv');
      const lines = ['phone,consent_at,consent_text,consent_ref'];
      for (let i = 0; i < IMPORT_ROWS; i += 1) lines.push(`${phoneFor(i, '49160')},2026-01-${String(1 + (i % 28)).padStart(2, '0')}T08:00:00Z,Ja bitte,ref-${i}`);
      writeFileSync(csv, `${lines.join('\n')}\n`);
      writeFileSync(join(dir, 'header.csv'), `${lines[0]}\n`);
      const env = { MONGODB_URI: server.uri, MONGODB_DB: importDb };
      const args = (file: string) => [file, '--topic', 'fallzahlen', '--consent-source', 'bench', '--json'];
      context.progress(`import of ${IMPORT_ROWS} rows ...`);
      const startup = await timed('import.ts', args(join(dir, 'header.csv')), env);
      const first = await timed('import.ts', args(csv), env);
      const again = await timed('import.ts', args(csv), env);
      const summary = JSON.parse(first.stdout) as { imported: number };
      if (summary.imported !== IMPORT_ROWS) context.violation(`the import stored ${summary.imported} of ${IMPORT_ROWS} rows`);
      const record = {
        rows: IMPORT_ROWS, server: serverName(server), node: process.version,
        importSeconds: round(first.seconds, 2), importRowsPerSec: Math.round(IMPORT_ROWS / Math.max(0.001, first.seconds - startup.seconds)), importPeakRssMb: first.peakRssMb,
        reimportRowsPerSec: Math.round(IMPORT_ROWS / Math.max(0.001, again.seconds - startup.seconds)), startupSeconds: round(startup.seconds, 2),
      };
      context.record(record);
      rows.push(
        { name: 'export', metric: `import of ${IMPORT_ROWS} rows: rows/s (start-up taken off)`, value: record.importRowsPerSec },
        { name: 'export', metric: `import of ${IMPORT_ROWS} rows: peak RSS of the process, MiB`, value: record.importPeakRssMb },
        { name: 'export', metric: `the same file again (all unchanged): rows/s`, value: record.reimportRowsPerSec },
      );
      return rows;
    } finally {
      if (server.source === 'MONGODB_URI') for (const db of dbs) await client.db(db).dropDatabase().catch(() => undefined);
      await client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
