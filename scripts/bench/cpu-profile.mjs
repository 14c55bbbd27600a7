// Loaded into a benchmark's child processes with NODE_OPTIONS=--import (see fan-out.ts --cpu-prof):
// what node's --cpu-prof does, which node refuses in NODE_OPTIONS. Profiles the main thread from
// here to the process's exit and writes CPU.<pid>.cpuprofile into BENCH_CPU_PROF_DIR. Plain
// JavaScript: NODE_OPTIONS' --import runs before the command line's --import tsx.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir && isMainThread) {
  const session = new Session();
  session.connect();
  // node's --cpu-prof default: one sample a millisecond.
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // A session on the main thread answers synchronously, so this works inside 'exit' (also
  // after process.exit()); a process killed with SIGKILL leaves no profile.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) process.stderr.write(`cpu profile not written: ${err.message}\n`);
      else writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
