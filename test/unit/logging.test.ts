import { expect } from 'chai';
import { maskPhone, maskPhonesInText } from '../../src/domain/mask-phone.js';
import { captureLogger } from '../support/test-config.js';
import { createLogger } from '../../src/app/logger.js';
import { PassThrough } from 'node:stream';

describe('maskPhone', () => {
  it('keeps country code, prefix and the last two digits', () => {
    expect(maskPhone('+4915112345678')).to.equal('+49151******78');
    expect(maskPhone('4915112345678')).to.equal('49151******78');
    expect(maskPhone('+491511234578')).to.equal('+49151*****78');
  });

  it('masks short and odd inputs without revealing them', () => {
    expect(maskPhone('12345')).to.equal('***45');
    expect(maskPhone('')).to.equal('');
    expect(maskPhone('not a number')).to.equal('***');
  });

  it('masks numbers inside a text', () => {
    expect(maskPhonesInText('send to 4915112345678 failed, retry +14155550123')).to.equal(
      'send to 49151******78 failed, retry +14155****23',
    );
  });
});

describe('logger', () => {
  it('masks phone fields and hides message texts by default', () => {
    const { logger, lines } = captureLogger();
    logger.info('sent', { to: '+4915112345678', text: 'Neue Fallzahlen: 1234' });
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line.to).to.equal('+49151******78');
    expect(line.text).to.equal('<21 chars>');
    expect(lines[0]).not.to.include('12345678');
  });

  it('writes full values only when PII logging is switched on', () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    createLogger({ level: 'info', json: true, pii: true, stream }).info('sent', { to: '+4915112345678' });
    expect(lines.join('')).to.include('+4915112345678');
  });

  it('child loggers carry their fields on every line', () => {
    const { logger, lines } = captureLogger();
    logger.child({ job: 'fan-out', broadcastId: 'b1' }).warn('slow');
    expect(JSON.parse(lines[0] ?? '{}')).to.include({ job: 'fan-out', broadcastId: 'b1', level: 'warn', message: 'slow' });
  });

  it('writes readable lines outside production', () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    createLogger({ level: 'info', json: false, pii: false, stream }).child({ scope: 'http' }).info('listening', { port: 3000 });
    // eslint-disable-next-line no-control-regex
    const plain = lines.join('').replace(/\u001b\[\d+m/g, '');
    expect(plain).to.match(/^\d{4}-\d\d-\d\dT[\d:.]+Z info \[http\] listening \{"port":3000\}\n?$/);
  });
});
