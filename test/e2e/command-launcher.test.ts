import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PROJECT_ROOT } from '../support/command-line.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * scripts/run.mjs, which every `npm run` command goes through, on a small project of its own
 * (the launcher, a package.json, a command and a module it imports): a changed source is never
 * run stale, processes starting together share one complete build, and what it refuses says why.
 */
describe('npm run commands: the launcher that runs them as transpiled JavaScript', function () {
  this.timeout(120_000);
  let root: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'launcher-'));
    for (const dir of ['config', 'jobs', 'scripts', 'src']) mkdirSync(join(root, dir));
    copyFileSync(join(PROJECT_ROOT, 'scripts/run.mjs'), join(root, 'scripts/run.mjs'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'launcher-test', version: '1.0.0', type: 'module' }));
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, 'scripts/hello.ts'), [
      "import { greeting } from '../src/greeting.js';",
      'const args: string[] = process.argv.slice(2);',
      "if (args[0] === 'throw') throw new Error('thrown on purpose');",
      'console.log(`${greeting} ${args.join(",")}`);',
      '',
    ].join('\n'));
    writeSource('one');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** Rewrites src/greeting.ts; its modification time moves on even within the same millisecond. */
  let edits = 0;
  function writeSource(greeting: string, extra = ''): void {
    const file = join(root, 'src/greeting.ts');
    writeFileSync(file, `export const greeting: string = ${JSON.stringify(greeting)};\n${extra}`);
    edits += 1;
    const at = new Date(Date.now() + edits * 1000);
    utimesSync(file, at, at);
  }

  function run(...args: string[]): Promise<Ran> {
    return new Promise((resolve) => {
      execFile(process.execPath, [join(root, 'scripts/run.mjs'), ...args], { cwd: root }, (err, stdout, stderr) => {
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      });
    });
  }

  const builds = () => readdirSync(join(root, '.cache/build'));

  it('runs the command with its arguments, and again after a source changed, the changed code', async () => {
    expect(await run('hello', 'a', 'b')).to.deep.equal({ code: 0, stdout: 'one a,b\n', stderr: '' });
    expect(await run('hello')).to.deep.include({ code: 0, stdout: 'one \n' });
    writeSource('two');
    expect(await run('hello', 'c')).to.deep.include({ code: 0, stdout: 'two c\n' });
  });

  it('processes started together after a change all run it, from one complete build, and leave no half-built folder', async () => {
    writeSource('three');
    const ran = await Promise.all(Array.from({ length: 4 }, (_, i) => run('hello', String(i))));
    expect(ran.map((r) => r.stdout)).to.deep.equal(['three 0\n', 'three 1\n', 'three 2\n', 'three 3\n']);
    expect(builds().filter((b) => b.includes('.tmp-')), 'half-built folders left').to.deep.equal([]);
  });

  it('builds again after packages were installed: the bundles hold them', async () => {
    const lock = join(root, 'package-lock.json');
    writeFileSync(lock, JSON.stringify({ name: 'launcher-test', lockfileVersion: 3, packages: {} }));
    expect((await run('hello')).stdout).to.equal('three \n');
    const before = builds();
    writeFileSync(lock, JSON.stringify({ name: 'launcher-test', lockfileVersion: 3, packages: { 'node_modules/x': { version: '1.0.1' } } }));
    expect((await run('hello')).stdout).to.equal('three \n');
    expect(builds().filter((b) => !before.includes(b)), 'new builds').to.have.length(1);
  });

  it('an error names the TypeScript file and line', async () => {
    const thrown = await run('hello', 'throw');
    expect(thrown.code).to.equal(1);
    expect(thrown.stderr).to.include('thrown on purpose');
    expect(thrown.stderr).to.match(/scripts\/hello\.ts:3:/);
  });

  it('sources that do not compile: exit 1 with the compiler\'s reason, and nothing is run', async () => {
    writeSource('four', 'export const broken = ;\n');
    const broken = await run('hello');
    expect(broken.code).to.equal(1);
    expect(broken.stdout).to.equal('');
    expect(broken.stderr).to.match(/^error: the sources do not compile: Build failed with 1 error:\nsrc\/greeting\.ts:2:\d+: ERROR: /);
    writeSource('five');
    expect((await run('hello')).stdout).to.equal('five \n');
  });

  it('an unknown command: exit 2, naming the commands there are', async () => {
    expect(await run('nope')).to.deep.equal({ code: 2, stdout: '', stderr: 'error: no command "nope": one of hello\n' });
    expect((await run()).stderr).to.equal('error: no command "": one of hello\n');
  });
});
