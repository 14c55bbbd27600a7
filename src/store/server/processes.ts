import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient } from 'mongodb';

/** The full path of an executable on PATH, or undefined. */
export function findOnPath(name: string, pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVariable.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Whether a process runs. A zombie (exited, not yet reaped by its parent: a detached server
 * whose parent died, in a container whose PID 1 reaps late or never) answers signal 0 like a
 * live process, but it serves nothing and cannot be killed: on Linux it counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (command) state ...": the command may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc (not Linux), or the process is gone meanwhile
  }
}

export interface SpawnedServer {
  child: ChildProcess;
  pid: number;
}

/**
 * Starts a database server process with its output in `logFile`. A detached server outlives
 * this process (shared local servers); an attached one is killed when this process exits.
 */
export function spawnServer(command: string, args: string[], logFile: string, detached: boolean): SpawnedServer {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached, stdio: ['ignore', fd, fd], env: process.env });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    if (detached) child.unref();
    return { child, pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * What a crashed server's log says: a crash dump can run to thousands of lines (a Go panic's
 * goroutines, a JVM's threads), so this starts at the first line of the crash when there is
 * one, else takes the last lines.
 */
export function crashExcerpt(file: string, lines = 30): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    const start = all.findIndex((line) => /^(panic:|fatal error:|Exception in thread|Terminating due to java\.lang\.|# A fatal error has been detected)/.test(line));
    return start === -1 ? all.slice(-lines).join('\n') : all.slice(start, start + lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until `uri` answers a ping, failing early with the server's log if its process died. */
export async function waitUntilReachable(uri: string, pid: number, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isProcessAlive(pid)) throw new Error(`database server (pid ${pid}) exited during start; its log says:\n${tail(logFile)}`);
    if (await pings(uri)) return;
    if (Date.now() > deadline) throw new Error(`database server at ${uri} did not answer within ${timeoutMs} ms; its log says:\n${tail(logFile)}`);
    await sleep(100);
  }
}

/** True when a MongoDB wire-protocol server answers a ping at `uri`. */
export async function pings(uri: string, timeoutMs = 1000): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Stops a process by pid: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!isProcessAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isProcessAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    while (isProcessAlive(pid)) await sleep(50);
  }
}

/** Reads the server's own description from buildInfo: `MongoDB 8.0.4`. */
export async function describeServer(uri: string): Promise<string> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const info = await client.db('admin').command({ buildInfo: 1 });
    return `MongoDB ${String(info.version)}`;
  } finally {
    await client.close();
  }
}
