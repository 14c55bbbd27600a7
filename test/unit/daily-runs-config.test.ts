import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadDailyRuns } from '../../config/daily-runs.js';
import { loadConfig } from '../../config/index.js';
import { loadContentConfig } from '../../src/app/services.js';
import { ConfigError } from '../../src/domain/errors.js';

const NOW = new Date('2026-11-20T12:00:00Z');
const GOOD = {
  schedule: '0 9 * * *',
  source: { url: 'https://data.example.org/cases?key=${CASES_KEY}', headers: { Authorization: 'Bearer ${CASES_TOKEN}', Accept: 'application/json' } },
  fields: { date: 'data.date', cases: 'data.cases', new_cases: 'data.newCases' },
  version: 'date',
};

describe('DAILY_RUNS_FILE: checked at start, one line naming the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'daily-runs-'));
  const { contents } = loadContentConfig(loadConfig({}));
  const environment = { CASES_TOKEN: 'token-from-env', CASES_KEY: 'k1' };
  after(() => rmSync(dir, { recursive: true, force: true }));

  function load(topics: unknown, env: Record<string, string> = environment) {
    const file = join(dir, `daily-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ topics }));
    return { file, settings: () => loadDailyRuns(file, { contents, environment: env, timezone: 'Europe/Berlin', now: NOW }) };
  }

  function problem(topics: unknown, env?: Record<string, string>): string {
    const { file, settings } = load(topics, env);
    try {
      settings();
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).not.to.include('\n');
      return message.replace(file, 'FILE');
    }
    throw new Error('expected a ConfigError');
  }

  it('reads the shipped file: the demo source on the built-in sandbox', () => {
    const settings = loadDailyRuns('config/daily-runs.json', { contents, environment: {}, timezone: 'Europe/Berlin', now: NOW });
    const topic = settings.topics.get('fallzahlen');
    expect(topic?.source.url).to.equal('sandbox:/_sandbox/data/fallzahlen');
    expect(topic?.graceMs).to.equal(60 * 60_000);
  });

  it('takes secrets for the URL and headers from the environment, never from the file', () => {
    const topic = load({ fallzahlen: GOOD }).settings().topics.get('fallzahlen');
    expect(topic?.source.headers).to.deep.equal({ Authorization: 'Bearer token-from-env', Accept: 'application/json' });
    expect(topic?.source.url).to.equal('https://data.example.org/cases?key=k1');
    expect(problem({ fallzahlen: GOOD }, { CASES_KEY: 'k1' })).to.equal('invalid FILE: topics.fallzahlen.source.headers.Authorization: the environment variable CASES_TOKEN is not set');
    expect(problem({ fallzahlen: { ...GOOD, source: { url: 'https://x.example', headers: { Authorization: 'Bearer abc123' } } } }))
      .to.match(/^invalid FILE: topics\.fallzahlen\.source\.headers\.Authorization: a credential belongs in the environment, not in this file/);
    expect(problem({ fallzahlen: { ...GOOD, source: { url: 'https://x.example', headers: { 'X-Api-Key': 'abc123' } } } })).to.match(/source\.headers\.X-Api-Key: a credential belongs in the environment/);
  });

  for (const [what, entry, expected] of [
    ['a schedule node-cron does not read', { ...GOOD, schedule: '0 25 * * *' }, 'topics.fallzahlen.schedule: "0 25 * * *" is not a node-cron expression: 25 is a invalid expression for hour'],
    ['a path that is not one', { ...GOOD, fields: { ...GOOD.fields, cases: 'data..cases' } }, 'topics.fallzahlen.fields.cases: expected a path into the answer such as data.cases or series[0].value'],
    ['a field the topic does not have', { ...GOOD, fields: { ...GOOD.fields, deaths: 'data.deaths' } }, 'topics.fallzahlen.fields.deaths: not a data field of topic fallzahlen in the broadcasts file (its fields: date, cases, new_cases)'],
    ['a placeholder without a path', { ...GOOD, fields: { date: 'data.date', cases: 'data.cases' } }, 'topics.fallzahlen.fields: no path for new_cases (used by the topic\'s session text or template)'],
    ['a version that is not mapped', { ...GOOD, version: 'published' }, 'topics.fallzahlen.version: "published" is not one of the mapped fields (date, cases, new_cases)'],
    ['a URL that is not http(s)', { ...GOOD, source: { url: 'ftp://data.example.org/x' } }, 'topics.fallzahlen.source.url: expected an http(s) URL, or sandbox:/PATH for the built-in sandbox'],
    ['an unknown key', { ...GOOD, retries: 3 }, 'topics.fallzahlen: Unrecognized key: "retries"'],
    ['a template the topic does not have', { ...GOOD, template: 'nope' }, 'topics.fallzahlen.template: topic fallzahlen has no template "nope" (configured: daily_update)'],
  ] as const) {
    it(`refuses ${what}`, () => {
      expect(problem({ fallzahlen: entry })).to.equal(`invalid FILE: ${expected}`);
    });
  }

  it('refuses a topic that the broadcasts file does not have, and a file that is not JSON', () => {
    expect(problem({ wetter: GOOD })).to.equal('invalid FILE: topics.wetter: not a topic of the broadcasts file (known: fallzahlen)');
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"topics": ');
    expect(() => loadDailyRuns(file, { contents, environment, timezone: 'Europe/Berlin', now: NOW })).to.throw(ConfigError, /^cannot read the daily-runs file .*broken\.json: /);
  });
});
