import { expect } from 'chai';
import { maskPhone, maskPhonesInText } from '../../src/domain/mask-phone.js';
import { captureLogger } from '../support/test-config.js';
import { createLogger, type RootLogger } from '../../src/app/logger.js';
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

  it('hides at least five digits of a short number', () => {
    expect(maskPhone('+14155550123')).to.equal('+1415*****23');
    expect(maskPhone('12345678')).to.equal('1*****78');
    expect(maskPhone('1234567')).to.equal('*****67');
  });

  it('masks numbers inside a text', () => {
    expect(maskPhonesInText('send to 4915112345678 failed, retry +14155550123')).to.equal(
      'send to 49151******78 failed, retry +1415*****23',
    );
  });

  it('finds numbers in ids, grouped, with 00 and over-long, but not the digits inside ids, dates and decimals', () => {
    const masked = {
      'dl:bmws4tubbe787dc:+4915120010501': 'dl:bmws4tubbe787dc:+49151******01',
      'reply:4915120010501|wamid.IN1:0': 'reply:49151******01|wamid.IN1:0',
      'call +49 151 2001 0501.': 'call +49151******01.',
      '+49-151-2001-0501': '+49151******01',
      '00491511234567': '00491*******67',
      '4915120010501234567890': '49151***************90',
      'line one\n4915120010501': 'line one\n49151******01',
      // A string of digits that is no phone number cannot be told from a wa_id: masked too.
      '"1767225600000"': '"17672******00"',
    };
    for (const [text, expected] of Object.entries(masked)) expect(maskPhonesInText(text), text).to.equal(expected);
    const kept = ['wamid.HBgLabc00000012', 'bmws4tu12345678', 'dl:bmws4tubbe787dc:kQ3v_x-9ZpL2mN8aB4cD1e', '2026-10-01T12:00:00.000Z', 'cost 0.04560000000000001 EUR', 'PIN 1234567', 'US.13491208655302741918'];
    for (const text of kept) expect(maskPhonesInText(text), text).to.equal(text);
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

  it('masks a number in any field at any depth, in keys, in the message and in errors', () => {
    const { logger, lines } = captureLogger();
    const err = new Error('send to 4915112345678 failed');
    logger.warn('message refused for +4915112345678', {
      callbackData: 'dl:bmws4tubbe787dc:+4915112345678',
      batch: { items: [{ id: '4915112345678|wamid.IN1', reason: 'to 004915112345678' }] },
      err,
      phones: ['+4915112345678', '12345'],
      to: 4915112345678,
      url: new URL('http://localhost/x?wa_id=4915112345678'),
      byContact: { '+4915112345678': 2 },
    });
    (logger as RootLogger).error(err); // winston's own form: message and stack from the error
    expect(lines).to.have.length(2);
    for (const line of lines) expect(line).not.to.match(/15112345678|1511234567|51123456/);
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line.message).to.equal('message refused for +49151******78');
    expect(line.callbackData).to.equal('dl:bmws4tubbe787dc:+49151******78');
    expect(line.batch).to.deep.equal({ items: [{ id: '49151******78|wamid.IN1', reason: 'to 00491********78' }] });
    expect(line.err).to.equal('Error: send to 49151******78 failed');
    expect(line.phones).to.deep.equal(['+49151******78', '***45']);
    expect(line.to).to.equal('49151******78');
    expect(line.url).to.equal('http://localhost/x?wa_id=49151******78');
    expect(line.byContact).to.deep.equal({ '+49151******78': 2 });
    const logged = JSON.parse(lines[1] ?? '{}') as { message: string; stack: string };
    expect(logged.message).to.equal('send to 49151******78 failed');
    expect(logged.stack).to.match(/^Error: send to 49151\*{6}78 failed\n\s+at /);
  });

  it('drops what a person wrote or is sent, at any depth', () => {
    const { logger, lines } = captureLogger();
    logger.info('request', {
      request: { type: 'text', text: { body: 'Neue Fallzahlen: 12.345' }, biz_opaque_callback_data: 'dl:b1:x' },
      template: { name: 'daily_update', bodyParams: { cases: 'zwölftausend' } },
      content: { sessionText: 'Heute 12.345 Fälle', caption: 'Grafik der Woche' },
      contact: { profileName: 'Erika Mustermann', profile: { name: 'Erika Mustermann' } },
      replies: [{ body: 'Danke! Du bekommst ab jetzt Fallzahlen.' }],
    });
    const line = lines[0] ?? '';
    for (const secret of ['Fallzahlen', '12.345', 'zwölftausend', 'Grafik', 'Erika', 'Danke']) expect(line).not.to.include(secret);
    const parsed = JSON.parse(line) as Record<string, Record<string, unknown>>;
    expect(parsed.request).to.deep.equal({ type: 'text', text: '<hidden>', biz_opaque_callback_data: 'dl:b1:x' });
    expect(parsed.template).to.deep.equal({ name: 'daily_update', bodyParams: '<hidden>' });
    expect(parsed.content).to.deep.equal({ sessionText: '<18 chars>', caption: '<16 chars>' });
    expect(parsed.replies).to.deep.equal([{ body: '<39 chars>' }]);
  });

  it('leaves numbers, times, durations, ids and wamids alone (a long number written into a sentence is masked)', () => {
    const { logger, lines } = captureLogger();
    const fields = {
      at: 1767225600000, ms: 12345678, count: 4915112345678, when: new Date(1767225600000),
      wamid: 'wamid.HBgLabc00000012', broadcastId: 'bmws4tu12345678', deliveryId: 'dl:bmws4tubbe787dc:kQ3v_x-9ZpL2mN8aB4cD1e',
      jobId: '6650a1b2c3d4e5f601234567', url: 'http://127.0.0.1:3000/healthz',
    };
    logger.info('job done', fields);
    logger.info('deleted 12345678 events in 1234567 ms');
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).to.deep.include({ ...fields, when: '2026-01-01T00:00:00.000Z', message: 'job done' });
    // Digits in text cannot be told from a wa_id: counts and times belong in fields.
    expect((JSON.parse(lines[1] ?? '{}') as { message: string }).message).to.equal('deleted 1*****78 events in 1234567 ms');
  });

  it('redacts readable lines too', () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    createLogger({ level: 'info', json: false, pii: false, stream }).warn('refused +4915112345678', { callbackData: 'reply:4915112345678|wamid.X:0', text: 'Hallo' });
    const text = lines.join('');
    expect(text).to.include('+49151******78').and.include('"text":"<5 chars>"');
    expect(text).not.to.include('15112345678');
    expect(text).not.to.include('Hallo');
  });

  it('writes full values only when PII logging is switched on', () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    createLogger({ level: 'info', json: true, pii: true, stream }).info('sent to +4915112345678', { to: '+4915112345678', callbackData: 'reply:4915112345678|wamid.X:0', text: 'Hallo', deep: { body: 'Neue Zahlen' } });
    const line = JSON.parse(lines.join('')) as Record<string, unknown>;
    expect(line).to.deep.include({ message: 'sent to +4915112345678', to: '+4915112345678', callbackData: 'reply:4915112345678|wamid.X:0', text: 'Hallo', deep: { body: 'Neue Zahlen' } });
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
