import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnCommand } from '../support/command-process.js';

interface RunJson {
  topic: string;
  chart?: string;
  runs: { start: string; currency: string; broadcasts: number; strategies: { strategy: string; messages: Record<string, number>; cost: { total: number }; subscribers: { active: number } }[] }[];
}

/** `npm run simulate` as the operator meets it: a process, its output and its exit code. */
describe('npm run simulate: cost and retention per strategy', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'simulate-cli-'));
  const simulate = (args: string[]) => spawnCommand('simulate.ts', { LOG_LEVEL: 'warn' }, args).exited;

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--json prints one object with both rate-card periods, and --chart writes an SVG chart', async () => {
    const chart = join(dir, 'strategies.svg');
    const run = await simulate(['--at', '2026-09-01,2026-11-01', '--days', '5', '--subscribers', '100', '--seed', '3', '--json', '--chart', chart]);
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).to.have.length(1);
    const result = JSON.parse(lines[0] as string) as RunJson;
    expect(result.topic).to.equal('fallzahlen');
    expect(result.chart).to.equal(chart);
    expect(result.runs.map((r) => [r.start.slice(0, 10), r.currency, r.broadcasts])).to.deep.equal([['2026-09-01', 'EUR', 5], ['2026-11-01', 'EUR', 5]]);
    for (const r of result.runs) expect(r.strategies.map((s) => s.strategy)).to.deep.equal(['templates-only', 'nudge-always', 'worth-it', 'off']);
    const [september, november] = result.runs as [RunJson['runs'][number], RunJson['runs'][number]];
    // Nudges are free in September and charged in November.
    expect(september.strategies[1]?.messages.nudge).to.be.greaterThan(0);
    expect(november.strategies[1]?.cost.total).to.be.greaterThan(september.strategies[1]?.cost.total as number);

    expect(existsSync(chart)).to.equal(true);
    const svg = readFileSync(chart, 'utf8');
    expect(svg.startsWith('<svg')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
    expect(svg).to.include('xmlns="http://www.w3.org/2000/svg"');
    expect(svg.match(/<path /g)?.length ?? 0).to.be.greaterThan(16); // 2 periods × 2 panels × 4 strategies, and the axes
    for (const label of ['templates only', 'nudge always (relief bot)', 'worth-it', 'off (no nudges)', 'Cost per retained subscriber, from 2026-11-01', 'Active subscribers, from 2026-09-01']) {
      expect(svg).to.include(label);
    }
  });

  it('prints a table per start date without --json', async () => {
    const run = await simulate(['--at', '2026-11-01', '--days', '3', '--subscribers', '50']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^topic fallzahlen: daily at 09:00 \(Europe\/Berlin\); template UTILITY; prices of config\/rate-card.json for \+49$/m);
    expect(run.stdout).to.match(/^50 subscribers, 3 days from 2026-11-01 to 2026-11-04, 3 broadcasts, seed 1$/m);
    expect(run.stdout).to.match(/^strategy +session +template +template in window +nudges +cost EUR +active \(reading\) +stopped +pruned +EUR \/ active \/ month +news in window$/m);
    expect(run.stdout).to.match(/^nudge always \(relief bot\) +[\d,]+ /m);
  });

  it('refuses a bad flag or value with exit code 2 and one line', async () => {
    for (const args of [['--dayz', '3'], ['--days', '0'], ['--topic', 'nope'], ['--reply-to-news', '1.5'], ['--at', '2026-13-01'], ['--publish', 'hourly']]) {
      const run = await simulate(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).to.equal(2);
      expect(run.stdout, args.join(' ')).to.equal('');
      expect(run.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(run.stderr).to.match(/^error: /);
    }
    const json = await simulate(['--dayz', '3', '--json']);
    expect(json.code).to.equal(2);
    expect(JSON.parse(json.stdout)).to.deep.equal({ error: { message: 'unknown option --dayz', exitCode: 2 } });
  });
});
