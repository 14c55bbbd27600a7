import { expect } from 'chai';
import { PermanentError } from '../../src/domain/errors.js';
import { fromWaId, normalizePhone, parsePhone, toWaId } from '../../src/domain/phone.js';

function reason(input: string, country?: 'DE' | 'US'): string {
  const parsed = parsePhone(input, country);
  if (parsed.ok) throw new Error(`expected ${input} to be refused, got ${parsed.e164}`);
  return parsed.reason;
}

describe('phone numbers', () => {
  it('normalises valid German and US numbers to E.164', () => {
    expect(normalizePhone('+4915112345678')).to.equal('+4915112345678');
    expect(normalizePhone('+49 151 1234 5678')).to.equal('+4915112345678');
    expect(normalizePhone('+1 (201) 555-0123')).to.equal('+12015550123');
    expect(normalizePhone('+1 650 555 1234')).to.equal('+16505551234');
  });

  it('accepts spaces, dashes, dots, slashes and the 00 prefix', () => {
    expect(normalizePhone('0049 151-1234-5678')).to.equal('+4915112345678');
    expect(normalizePhone('0049.151/12345678')).to.equal('+4915112345678');
    expect(normalizePhone(' 001 201 555 0123 ')).to.equal('+12015550123');
    expect(normalizePhone('+49\u00a0151\u00a012345678')).to.equal('+4915112345678');
  });

  it('uses the default country only for national numbers', () => {
    expect(normalizePhone('0151 12345678', 'DE')).to.equal('+4915112345678');
    expect(normalizePhone('(201) 555-0123', 'US')).to.equal('+12015550123');
    expect(normalizePhone('+12015550123', 'DE')).to.equal('+12015550123');
    expect(reason('0151 12345678')).to.include('no country code');
  });

  it('refuses invalid, too short, too long and non-numbers with a reason', () => {
    expect(reason('')).to.include('empty');
    expect(reason('abc')).to.match(/^not a valid phone number: .* \(only digits/);
    expect(reason('+123')).to.include('too short');
    expect(reason('+4930')).to.match(/too short|wrong length/);
    expect(reason('+491511234567')).to.include('numbering plan of +49');
    expect(reason('+49151123456789012')).to.include('too long');
    expect(reason('+491511234567890')).to.match(/wrong length|numbering plan/);
    expect(reason('+49 151 +1234')).to.include('a leading +');
    expect(reason('0151 12345678 ext. 5', 'DE')).to.include('only digits');
  });

  it('masks the number in the reason', () => {
    expect(reason('+491511234567')).to.include('+49151*****67').and.not.to.include('1511234567');
  });

  it('throws a PermanentError with code invalid-phone', () => {
    expect(() => normalizePhone('12')).to.throw(PermanentError, /^not a valid phone number/).with.property('code', 'invalid-phone');
  });

  it('converts between E.164 and WhatsApp wa_id', () => {
    expect(toWaId('+4915112345678')).to.equal('4915112345678');
    expect(() => toWaId('4915112345678')).to.throw(PermanentError);
    expect(fromWaId('4915112345678')).to.deep.equal({ ok: true, e164: '+4915112345678', country: 'DE' });
    expect(fromWaId('16505551234')).to.include({ ok: true, e164: '+16505551234' });
  });

  it('refuses wa_ids that are not digits or not valid numbers', () => {
    expect(fromWaId('+4915112345678').ok).to.equal(false);
    expect(fromWaId('').ok).to.equal(false);
    expect(fromWaId('49 151 12345678').ok).to.equal(false);
    const invalid = fromWaId('491511234567');
    expect(invalid.ok).to.equal(false);
    expect(invalid.ok ? '' : invalid.reason).to.include('not a valid phone number');
  });
});
