import { expect } from 'chai';
import { isStopMessage, matchSubscribeKeyword, normalizeKeywordText } from '../../src/domain/keywords.js';
import { chooseLanguage } from '../../src/domain/language.js';

const STOP = ['STOP', 'Stopp', 'Abmelden', 'Abbestellen', 'Unsubscribe', 'Austragen', 'Ende', 'Cancel', 'Opt out'];
const TOPICS = [
  { id: 'fallzahlen', keywords: ['Fallzahlen', 'START'] },
  { id: 'wetter', keywords: ['Wetter', 'Météo'] },
];

describe('keywords', () => {
  it('normalises case, accents, ß, whitespace and edge punctuation', () => {
    expect(normalizeKeywordText('  ABBESTELLEN!! 🙏 ')).to.equal('abbestellen');
    expect(normalizeKeywordText('Straße')).to.equal('strasse');
    expect(normalizeKeywordText('STRASSE')).to.equal('strasse');
    expect(normalizeKeywordText('Opt   \n out')).to.equal('opt out');
    expect(normalizeKeywordText('ＳＴＯＰ')).to.equal('stop');
    expect(normalizeKeywordText('¿stop?')).to.equal('stop');
    expect(normalizeKeywordText('"Stop"')).to.equal('stop');
    expect(normalizeKeywordText('❤️')).to.equal('');
  });

  it('recognises stop keywords in any case, with accents, punctuation or emoji around them', () => {
    for (const text of ['STOP', 'stop', 'Stop', ' stop ', 'Stopp!', 'Stopp.', 'STOPP!!!', 'stop 👋', 'abbestellen', 'ABBESTELLEN',
      'Abbestellen.', 'abmélden', 'Äbmelden', 'unsubscribe', 'Opt out', 'opt  out', 'Ende', 'cancel!', 'STOP\u200d']) {
      expect(isStopMessage(text, STOP), JSON.stringify(text)).to.equal(true);
    }
  });

  it('matches whole messages only', () => {
    for (const text of ['Stop sending me the bill', 'please stop', 'stop it', 'stopper', 'st op', 'Abmeldung', 'Ende gut, alles gut',
      'Warum STOP?', '', '   ', '!!!', '👍']) {
      expect(isStopMessage(text, STOP), JSON.stringify(text)).to.equal(false);
    }
    expect(isStopMessage(undefined, STOP)).to.equal(false);
  });

  it('finds the topic whose subscribe keyword is the whole message', () => {
    expect(matchSubscribeKeyword('Fallzahlen', TOPICS)).to.equal('fallzahlen');
    expect(matchSubscribeKeyword('  fallzahlen!', TOPICS)).to.equal('fallzahlen');
    expect(matchSubscribeKeyword('start', TOPICS)).to.equal('fallzahlen');
    expect(matchSubscribeKeyword('METEO', TOPICS)).to.equal('wetter');
    expect(matchSubscribeKeyword('météo ☀️', TOPICS)).to.equal('wetter');
    expect(matchSubscribeKeyword('Fallzahlen bitte', TOPICS)).to.equal(undefined);
    expect(matchSubscribeKeyword('Wie sind die Fallzahlen?', TOPICS)).to.equal(undefined);
    expect(matchSubscribeKeyword(undefined, TOPICS)).to.equal(undefined);
  });
});

describe('language choice', () => {
  it('uses the stored language when we speak it', () => {
    expect(chooseLanguage('en', '+4915112345678')).to.equal('en');
    expect(chooseLanguage('de-AT', '+12015550123')).to.equal('de');
    expect(chooseLanguage('EN_us', undefined)).to.equal('en');
  });

  it('otherwise goes by the country calling code: +49, +43, +41, +423 German, else English', () => {
    expect(chooseLanguage(undefined, '+4915112345678')).to.equal('de');
    expect(chooseLanguage(undefined, '+4366412345678')).to.equal('de');
    expect(chooseLanguage(undefined, '+41791234567')).to.equal('de');
    expect(chooseLanguage(undefined, '+4237901234')).to.equal('de');
    expect(chooseLanguage('fr', '+41791234567')).to.equal('de');
    expect(chooseLanguage(undefined, '+12015550123')).to.equal('en');
    expect(chooseLanguage(undefined, '+4420794601234')).to.equal('en');
    expect(chooseLanguage(undefined, '+33612345678')).to.equal('en');
    expect(chooseLanguage(undefined, undefined)).to.equal('en');
  });
});
