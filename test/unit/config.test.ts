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
