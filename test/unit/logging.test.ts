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

  it('bounds every field: long strings, long lists, wide and deep objects', () => {
    const { logger, lines } = captureLogger();
    const huge = 'x'.repeat(1024 * 1024);
    const deep = { a: { b: { c: { d: { e: huge } } } } };
    const original = { list: Array.from({ length: 1000 }, (_, i) => i), wide: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, huge])), deep };
    logger.warn(huge, { reason: huge, from: '4'.repeat(1024 * 1024), text: huge, err: new Error(huge), ...original });
    expect(lines).to.have.length(1);
    expect(lines[0]?.length).to.be.below(200_000);
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line.reason).to.match(/^x{2048}… \(1046528 more chars\)$/);
    expect(line.message).to.have.length.below(2100);
    expect(line.text).to.equal('<2070 chars>'); // the bounded text, then replaced by its length
    expect(line.from).to.match(/^44444\*+/).and.have.length.below(2100);
    expect(line.err).to.match(/^Error: x+… \(\d+ more chars\)$/);
    expect(line.list).to.have.length(51);
    expect((line.list as unknown[])[50]).to.equal('… (950 more)');
    expect(Object.keys(line.wide as object)).to.have.length(51);
    expect(line.deep).to.deep.equal({ a: { b: { c: { d: '<object>' } } } });
    expect(original.list, 'the caller\'s objects are not changed').to.have.length(1000);
    expect(deep.a.b.c.d.e).to.equal(huge);
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
