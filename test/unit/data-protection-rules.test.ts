import { expect } from 'chai';
import { callingCodeOf, parseContactId } from '../../src/domain/contact-id.js';
import { checkHeader, checkRow, decideImport, parseIsoInstant, type ImportHeader, type ImportRow } from '../../src/domain/contact-import.js';
import { neutralizeFormula } from '../../src/domain/spreadsheet-cell.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const HEADER = ['consent_text', 'phone', 'consent_at', 'name'] as unknown as ImportHeader;

describe('export, import and erasure rules', () => {
  it('neutralises cells a spreadsheet would run as a formula, and leaves plain numbers alone', () => {
    expect(neutralizeFormula('=HYPERLINK("http://x","y")')).to.equal('\'=HYPERLINK("http://x","y")');
    expect(neutralizeFormula('@SUM(A1)')).to.equal('\'@SUM(A1)');
    expect(neutralizeFormula('-2+3')).to.equal('\'-2+3');
    expect(neutralizeFormula('+49 151 1234')).to.equal('\'+49 151 1234');
    expect(neutralizeFormula('\t=1')).to.equal('\'\t=1');
    expect(neutralizeFormula('+4915112345678')).to.equal('+4915112345678');
    expect(neutralizeFormula('-1.5')).to.equal('-1.5');
    expect(neutralizeFormula('Anna = Bob')).to.equal('Anna = Bob');
  });

  it('reads the header in any order and case, and refuses unknown, doubled or missing columns', () => {
    expect(checkHeader([' Phone', 'CONSENT_AT', 'consent_text'])).to.deep.equal({ ok: true, header: ['phone', 'consent_at', 'consent_text'] });
    expect(checkHeader(['phone', 'consent_at', 'consent_text', 'email'])).to.deep.include({ ok: false });
    expect(checkHeader(['phone', 'phone', 'consent_at', 'consent_text'])).to.deep.include({ ok: false });
    expect(checkHeader(['name', 'consent_at', 'consent_text'])).to.deep.equal({ ok: false, message: 'the header names neither phone nor bsuid' });
    expect(checkHeader(['bsuid', 'consent_at'])).to.deep.equal({ ok: false, message: 'the header lacks consent_text' });
  });

  it('checks each row: the number normalised, the consent time with a zone and not in the future, the wording there', () => {
    const row = (fields: string[]) => checkRow(fields, HEADER, NOW);
    expect(row(['Ja, bitte', '0049 151 1234 5678', '2026-02-01T10:00:00+01:00', 'Anna'])).to.deep.equal({
      ok: true, row: { phone: '+4915112345678', consentAt: new Date('2026-02-01T09:00:00Z'), consentText: 'Ja, bitte', name: 'Anna' },
    });
    expect(row(['Ja', '+49 151 1234 5678', '2026-02-01', ''])).to.deep.include({ ok: true });
    const reasons = [
      row(['Ja', '12345', '2026-02-01', '']),
      row(['Ja', '', '2026-02-01', '']),
      row(['Ja', '+4915112345678', '', '']),
      row(['Ja', '+4915112345678', '2026-02-01T10:00:00', '']),
      row(['Ja', '+4915112345678', '2026-02-30', '']),
      row(['Ja', '+4915112345678', '2026-03-01T12:00:01Z', '']),
      row(['', '+4915112345678', '2026-02-01', '']),
      row(['Ja', '+4915112345678', '2026-02-01', '', 'extra']),
    ].map((r) => (r.ok ? 'ok' : r.reason));
    expect(reasons).to.deep.equal(['invalid-phone', 'missing-contact', 'missing-consent-time', 'invalid-consent-time', 'invalid-consent-time', 'consent-in-future', 'missing-consent-text', 'unknown-column']);
    const bad = row(['Ja', '+49 151 1234 56789 0', '2026-02-01', '']);
    expect(bad.ok ? '' : bad.message).not.to.include('12345678');
    expect(parseIsoInstant('2026-02-01T10:00Z')?.toISOString()).to.equal('2026-02-01T10:00:00.000Z');
  });

  it('never subscribes again whoever opted out or left after the consent, unless the consent is newer', () => {
    const row: ImportRow = { phone: '+4915112345678', consentAt: new Date('2026-02-01T00:00:00Z'), consentText: 'Ja' };
    const before = new Date('2026-01-01T00:00:00Z');
    const after = new Date('2026-02-02T00:00:00Z');
    expect(decideImport({ exists: false }, row)).to.deep.equal({ kind: 'subscribe', liftSuppression: false });
    expect(decideImport({ exists: false, suppressedAt: after }, row)).to.deep.include({ kind: 'reject', reason: 'suppressed' });
    expect(decideImport({ exists: false, suppressedAt: before }, row)).to.deep.include({ kind: 'subscribe', liftSuppression: true });
    expect(decideImport({ exists: true, status: 'active', subscription: { state: 'unsubscribed', changedAt: after } }, row)).to.deep.include({ kind: 'reject', reason: 'unsubscribed-later' });
    expect(decideImport({ exists: true, status: 'lapsed', subscription: { state: 'unsubscribed', changedAt: before } }, row)).to.deep.include({ kind: 'subscribe' });
    expect(decideImport({ exists: true, status: 'active', subscription: { state: 'subscribed', changedAt: before } }, row)).to.deep.equal({ kind: 'unchanged', note: 'already subscribed' });
    expect(decideImport({ exists: true, status: 'active', subscription: { state: 'pending', changedAt: after } }, row)).to.deep.include({ kind: 'subscribe' });
    expect(decideImport({ exists: true, status: 'removed' }, row)).to.deep.include({ kind: 'reject', reason: 'removed' });
  });

  it('reads what forget is given: numbers in any form, BSUIDs, contact keys; prices by calling code only', () => {
    expect(parseContactId('+49 151 1234 5678')).to.deep.equal({ ok: true, id: { kind: 'phone', phone: '+4915112345678' } });
    expect(parseContactId('4915112345678')).to.deep.equal({ ok: true, id: { kind: 'phone', phone: '+4915112345678' } });
    expect(parseContactId('49.AbCdEf123')).to.deep.equal({ ok: true, id: { kind: 'bsuid', userId: '49.AbCdEf123' } });
    expect(parseContactId('user:49.AbCdEf123')).to.deep.equal({ ok: true, id: { kind: 'bsuid', userId: '49.AbCdEf123' } });
    expect(parseContactId('hello')).to.deep.include({ ok: false });
    expect(callingCodeOf('+4915112345678')).to.equal('+49');
    expect(callingCodeOf('+12015550100')).to.equal('+1');
    expect(callingCodeOf('user:49.AbC')).to.equal(undefined);
  });
});
