import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { expect } from 'chai';
import { commandArgs, PROJECT_ROOT } from '../support/command-line.js';

/** Runs `npm run sandbox -- ARGS` as a process until it exits by itself. */
function runSandbox(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...commandArgs('sandbox'), ...args], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run sandbox: the command line', function () {
  this.timeout(60_000);

  for (const [name, args, message] of [
    ['a negative --mps', ['--mps', '-1'], 'error: --mps: expected an integer from 0 to 1000000, got "-1" (see npm run sandbox -- --help)'],
    ['--mps without a value', ['--mps'], 'error: --mps needs a value (see npm run sandbox -- --help)'],
    ['an unknown flag', ['--prot', '4000'], 'error: unknown option --prot (see npm run sandbox -- --help)'],
    ['an argument without a flag', ['4000'], 'error: unexpected argument "4000" (see npm run sandbox -- --help)'],
  ] as const) {
    it(`refuses ${name} with one line saying what is expected, exit code 2`, async () => {
      const result = await runSandbox([...args]);
      expect(result.code).to.equal(2);
      expect(result.stderr.trim()).to.equal(message);
      expect(result.stdout).to.equal('');
    });
  }

  it('prints the version of package.json for --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runSandbox(['--version']);
    expect(result.code).to.equal(0);
    expect(result.stdout.trim()).to.equal(version);
  });

  it('names --port when the port is in use, exit code 78', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await runSandbox(['--port', String(port)]);
      expect(result.code).to.equal(78);
      expect(result.stderr.trim()).to.equal(`error: --port ${port}: the port is already in use on 127.0.0.1 (choose another with --port, or 0 to pick a free one)`);
    } finally {
      taken.close();
    }
  });
});
