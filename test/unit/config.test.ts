import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig, readEnvFile, VARIABLES } from '../../config/index.js';
import { ConfigError } from '../../src/domain/errors.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('gives every documented default when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.http.port).to.equal(3000);
    expect(config.timezone).to.equal('Europe/Berlin');
    expect(config.sendRateMps).to.equal(80);
    expect(config.database.uri).to.equal(undefined);
    expect(config.whatsapp.apiBase).to.equal(undefined);
    expect(config.whatsapp.apiVersion).to.equal('v25.0');
  });

  it('listens on 127.0.0.1 with the built-in sandbox and on every interface with a real API, unless HOST says otherwise', () => {
    const real = { WHATSAPP_API_BASE: 'https://graph.facebook.com', WHATSAPP_TOKEN: 't', WHATSAPP_APP_SECRET: 's', WHATSAPP_VERIFY_TOKEN: 'v', SUPPRESSION_KEY: 'a-real-suppression-key' };
    expect(loadConfig({}).http.host).to.equal('127.0.0.1');
    expect(loadConfig(real).http.host).to.equal('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0' }).http.host).to.equal('0.0.0.0');
    expect(loadConfig({ ...real, HOST: '10.0.0.5' }).http.host).to.equal('10.0.0.5');
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.http)).to.equal(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).to.throw(TypeError);
  });

  it('parses numbers and flags from strings', () => {
    const config = loadConfig({ PORT: '8080', SEND_RATE_MPS: '12.5', LOG_PII: 'yes' });
    expect(config.http.port).to.equal(8080);
    expect(config.sendRateMps).to.equal(12.5);
    expect(config.log.pii).to.equal(true);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', MONGODB_URI: '  ' }).http.port).to.equal(3000);
  });

  it('names the variable, the bad value and what is expected, in one line', () => {
    const err = configError({ PORT: 'abc' });
    expect(err.message).to.equal('invalid configuration: PORT="abc" (expected an integer from 0 to 65535)');
    expect(err.message).not.to.include('\n');
  });

  it('reports every bad variable at once', () => {
    const err = configError({ PORT: '70000', APP_TIMEZONE: 'Mars/Olympus', SEND_RATE_MPS: '0' });
    expect(err.message).to.include('PORT="70000"');
    expect(err.message).to.include('APP_TIMEZONE="Mars/Olympus" (expected an IANA time zone');
    expect(err.message).to.include('SEND_RATE_MPS="0"');
  });

  it('never echoes a secret', () => {
    const err = configError({ MONGODB_URI: 'postgres://user:hunter2@db' });
    expect(err.message).to.include('MONGODB_URI=<hidden>');
    expect(err.message).not.to.include('hunter2');
  });

  it('refuses the sandbox credentials against a real API', () => {
    const err = configError({ WHATSAPP_API_BASE: 'https://graph.facebook.com', WHATSAPP_TOKEN: 'EAAG-real' });
    expect(err.message).to.include('WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, SUPPRESSION_KEY still hold the sandbox value');
    expect(err.message).not.to.include('EAAG-real');
  });

  it('reads a .env file without letting it override the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'PORT=4000\nAPP_TIMEZONE=America/New_York\n');
    const config = loadConfig({ PORT: '5000' }, readEnvFile(file));
    expect(config.http.port).to.equal(5000);
    expect(config.timezone).to.equal('America/New_York');
    expect(readEnvFile(join(dir, 'missing.env'))).to.deep.equal({});
  });

  it('window keeper and pruning: documented defaults', () => {
    const config = loadConfig({});
    expect(config.keeper).to.deep.equal({ policy: 'worth-it', nudgeBeforeCloseMs: 300_000, intervalMs: 60_000, quietHours: undefined });
    expect(config.pruning).to.deep.equal({ afterDays: 30, afterUnansweredTemplates: 3 });
  });

  it('reads the keeper policy, quiet hours and pruning limits; 0 turns a pruning rule off', () => {
    const config = loadConfig({ KEEPER_POLICY: 'always', QUIET_HOURS: '22:00-07:00', PRUNE_AFTER_DAYS: '0', PRUNE_AFTER_UNANSWERED_TEMPLATES: '5' });
    expect(config.keeper.policy).to.equal('always');
    expect(config.keeper.quietHours).to.deep.equal({ start: { hour: 22, minute: 0 }, end: { hour: 7, minute: 0 } });
    expect(config.pruning).to.deep.equal({ afterDays: 0, afterUnansweredTemplates: 5 });
    expect(Object.isFrozen(config.keeper.quietHours)).to.equal(true);
  });

  it('refuses a bad keeper policy, quiet hours or pruning limit, naming the variable', () => {
    expect(configError({ QUIET_HOURS: '22-7' }).message).to.equal('invalid configuration: QUIET_HOURS="22-7" (expected HH:MM-HH:MM such as 22:00-07:00 (may wrap midnight), or empty for none)');
    expect(configError({ QUIET_HOURS: '22:00-22:00' }).message).to.include('QUIET_HOURS="22:00-22:00"');
    expect(configError({ KEEPER_POLICY: 'sometimes' }).message).to.equal('invalid configuration: KEEPER_POLICY="sometimes" (expected one of always, worth-it, off)');
    expect(configError({ PRUNE_AFTER_DAYS: '-1' }).message).to.include('PRUNE_AFTER_DAYS="-1" (expected days from 0 to 3650');
  });

  it('refuses NUDGE_BEFORE_CLOSE_MS not larger than SEND_SAFETY_MARGIN_MS, in one line naming it', () => {
    const err = configError({ NUDGE_BEFORE_CLOSE_MS: '60000' });
    expect(err.message).to.equal('invalid configuration: NUDGE_BEFORE_CLOSE_MS="60000" (expected more than SEND_SAFETY_MARGIN_MS=60000: a nudge sent then would land inside the safety margin and never go out)');
    expect(configError({ SEND_SAFETY_MARGIN_MS: '600000' }).message).to.match(/^invalid configuration: NUDGE_BEFORE_CLOSE_MS="300000" \(expected more than SEND_SAFETY_MARGIN_MS=600000/);
    expect(loadConfig({ NUDGE_BEFORE_CLOSE_MS: '60001' }).keeper.nudgeBeforeCloseMs).to.equal(60_001);
    expect(loadConfig({ NUDGE_BEFORE_CLOSE_MS: '30000', SEND_SAFETY_MARGIN_MS: '10000' }).keeper.nudgeBeforeCloseMs).to.equal(30_000);
  });

  it('.env.example lists every variable with its default and an explanation', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    for (const [name, spec] of Object.entries(VARIABLES)) {
      const defaultValue = 'default' in spec ? spec.default : '';
      const line = new RegExp(`^#? ?${name}=${defaultValue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
      expect(example, `${name} in .env.example`).to.match(line);
      expect(example, `explanation of ${name}`).to.include(spec.description);
    }
  });
});
