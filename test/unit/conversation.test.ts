import { expect } from 'chai';
import type { ConversationConfig } from '../../src/domain/conversation-config.js';
import {
  decideConversation, helpAlreadySentInWindow, opensWindow, WINDOW_MS,
  type ConversationContact, type ConversationMessage,
} from '../../src/domain/conversation.js';

const wording = (lang: string) => ({
  consentQuestion: `${lang}: news about {topic}?`,
  yesButton: lang === 'de' ? 'Ja' : 'Yes',
  noButton: lang === 'de' ? 'Nein' : 'No',
  stopButton: lang === 'de' ? 'Stopp' : 'Stop',
  subscribed: `${lang}: subscribed to {topic}`,
  alreadySubscribed: `${lang}: already subscribed to {topic}`,
  declined: `${lang}: no {topic} then`,
  stopped: `${lang}: stopped`,
  kept: `${lang}: kept`,
  help: `${lang}: write {keywords} for {topics}, or STOP`,
  nudge: `${lang}: no news about {topic}, still interested?`,
  keepButton: lang === 'de' ? 'Ja, weiter' : 'Keep',
});

const CONFIG: ConversationConfig = {
  topics: [
    { id: 'fallzahlen', names: { de: 'Fallzahlen', en: 'case numbers' }, keywords: ['Fallzahlen', 'START'],
      consentQuestion: { de: 'Möchtest du informiert werden, wenn neue Zahlen vorliegen?' } },
    { id: 'wetter', names: { de: 'Wetter', en: 'weather' }, keywords: ['Wetter'] },
  ],
  stopKeywords: ['STOP', 'Stopp', 'Abmelden', 'Abbestellen', 'Unsubscribe'],
  buttons: { yes: 'yes', no: 'no', stop: 'stop', keep: 'keep', stopPayloads: ['stop'], keepPayloads: ['keep', 'yes'] },
  wording: { de: wording('de'), en: wording('en') },
};

const NOW = new Date('2026-03-10T12:00:05Z');
const AT = new Date('2026-03-10T12:00:00Z');
const DE = '+4915112345678';
const US = '+12015550123';
const HOUR = 3_600_000;

function msg(fields: Partial<ConversationMessage>): ConversationMessage {
  return { id: 'wamid.IN1', kind: 'text', timestamp: AT, ...fields };
}

function decide(message: Partial<ConversationMessage>, contact: Partial<ConversationContact> = {}) {
  return decideConversation({ now: NOW, message: msg(message), contact: { phone: DE, topics: {}, ...contact }, config: CONFIG });
}

describe('conversation', () => {
  describe('subscribe', () => {
    it('a subscribe keyword makes the contact pending and asks with Yes / No buttons naming the topic', () => {
      const d = decide({ text: 'Fallzahlen' });
      expect(d.intent).to.equal('subscribe-request');
      expect(d.actions).to.deep.equal([{ type: 'mark-pending', topic: 'fallzahlen', at: NOW, source: 'keyword', messageId: 'wamid.IN1' }]);
      expect(d.replies).to.deep.equal([{
        kind: 'buttons',
        body: 'Möchtest du informiert werden, wenn neue Zahlen vorliegen?',
        buttons: [{ id: 'yes:fallzahlen', title: 'Ja' }, { id: 'no:fallzahlen', title: 'Nein' }],
      }]);
    });

    it('matches keywords loosely, in English for a US number, with the global question and the topic name', () => {
      const d = decide({ text: '  start! ' }, { phone: US });
      expect(d.language).to.equal('en');
      expect(d.replies[0]).to.deep.include({ body: 'en: news about case numbers?' });
      expect(decide({ text: 'WETTER' }).replies[0]).to.deep.include({ body: 'de: news about Wetter?' });
    });

    it('asks again while pending, and does not demote someone already subscribed', () => {
      expect(decide({ text: 'START' }, { topics: { fallzahlen: { state: 'pending', pendingSince: AT } } }).intent).to.equal('subscribe-request');
      const d = decide({ text: 'START' }, { topics: { fallzahlen: { state: 'subscribed' } } });
      expect(d.intent).to.equal('already-subscribed');
      expect(d.actions).to.deep.equal([]);
      expect(d.replies).to.deep.equal([{ kind: 'text', body: 'de: already subscribed to Fallzahlen' }]);
    });

    it('Yes subscribes with a consent record (source, wording shown, language, message id) and confirms with a Stop button', () => {
      const d = decide({ kind: 'button_reply', buttonId: 'yes:fallzahlen', buttonTitle: 'Ja', id: 'wamid.YES' },
        { topics: { fallzahlen: { state: 'pending', pendingSince: AT } } });
      expect(d.intent).to.equal('consent-yes');
      expect(d.actions).to.deep.equal([{
        type: 'subscribe', topic: 'fallzahlen', at: NOW,
        consent: { source: 'button', wording: 'Möchtest du informiert werden, wenn neue Zahlen vorliegen?', language: 'de', messageId: 'wamid.YES' },
      }]);
      expect(d.replies).to.deep.equal([{ kind: 'buttons', body: 'de: subscribed to Fallzahlen', buttons: [{ id: 'stop', title: 'Stopp' }] }]);
    });

    it('a Yes tap counts even when not pending (an explicit answer to the question shown), but not twice', () => {
      expect(decide({ kind: 'button_reply', buttonId: 'yes:wetter' }).actions[0]).to.include({ type: 'subscribe', topic: 'wetter' });
      expect(decide({ kind: 'button_reply', buttonId: 'YES:wetter' }, { topics: { wetter: { state: 'subscribed' } } }).intent).to.equal('already-subscribed');
    });

    it('No declines and acknowledges', () => {
      const d = decide({ kind: 'button_reply', buttonId: 'no:fallzahlen' }, { topics: { fallzahlen: { state: 'pending' } }, language: 'en' });
      expect(d.actions).to.deep.equal([{ type: 'decline', topic: 'fallzahlen', at: NOW, source: 'button', messageId: 'wamid.IN1' }]);
      expect(d.replies).to.deep.equal([{ kind: 'text', body: 'en: no case numbers then' }]);
    });

    it('a typed Ja / No answers the one open question (consent source keyword); with none open it is help', () => {
      const pending = { fallzahlen: { state: 'pending' as const } };
      expect(decide({ text: 'ja!' }, { topics: pending }).actions[0]).to.deep.include({ type: 'subscribe', topic: 'fallzahlen' })
        .and.to.have.nested.property('consent.source', 'keyword');
      expect(decide({ text: 'No' }, { topics: pending }).actions[0]).to.include({ type: 'decline', source: 'keyword' });
      expect(decide({ text: 'Ja' }).intent).to.equal('help');
      expect(decide({ text: 'Ja' }, { topics: { ...pending, wetter: { state: 'pending' } } }).intent).to.equal('help');
    });

    it('a button for an unknown topic or an unknown id is treated like any other message', () => {
      expect(decide({ kind: 'button_reply', buttonId: 'yes:lotto', buttonTitle: 'Ja' }).intent).to.equal('help');
      expect(decide({ kind: 'button_reply', buttonId: 'yes:lotto', buttonTitle: 'Ja' }, { topics: { fallzahlen: { state: 'pending' } } }).intent).to.equal('help');
      expect(decide({ kind: 'button_reply', buttonId: 'something', buttonTitle: 'Stop' }).intent).to.equal('stop');
    });
  });

  describe('stop', () => {
    it('a stop keyword unsubscribes from every topic with one confirmation', () => {
      for (const text of ['STOP', 'stopp!', 'ABBESTELLEN', 'abbestellen', ' Abmelden. ']) {
        const d = decide({ text }, { topics: { fallzahlen: { state: 'subscribed' }, wetter: { state: 'pending' } } });
        expect(d.intent, text).to.equal('stop');
        expect(d.actions).to.deep.equal([{ type: 'unsubscribe-all', at: NOW, source: 'keyword', messageId: 'wamid.IN1' }]);
        expect(d.replies).to.deep.equal([{ kind: 'text', body: 'de: stopped' }]);
      }
    });

    it('"Stop sending me the bill" does not unsubscribe', () => {
      const d = decide({ text: 'Stop sending me the bill' }, { topics: { fallzahlen: { state: 'subscribed' } } });
      expect(d.intent).to.equal('help');
      expect(d.actions.map((a) => a.type)).to.deep.equal(['record-help-sent']);
    });

    it('the Stop button and a template stop payload unsubscribe with source button', () => {
      expect(decide({ kind: 'button_reply', buttonId: 'stop' }).actions[0]).to.include({ type: 'unsubscribe-all', source: 'button' });
      expect(decide({ kind: 'quick_reply', payload: 'stop', text: 'Nicht mehr' }).actions[0]).to.include({ type: 'unsubscribe-all', source: 'button' });
    });
  });

  describe('template quick replies', () => {
    const subscribed = { fallzahlen: { state: 'subscribed' as const } };

    it('keep / yes keep the subscription without a state change and are acknowledged', () => {
      for (const payload of ['keep', 'yes', 'KEEP', 'keep:fallzahlen']) {
        const d = decide({ kind: 'quick_reply', payload, text: 'Ja, weiter' }, { topics: subscribed });
        expect(d.intent, payload).to.equal('keep');
        expect(d.actions).to.deep.equal([]);
        expect(d.replies).to.deep.equal([{ kind: 'text', body: 'de: kept' }]);
      }
    });

    it('keep from someone not subscribed does not subscribe them: they get the help text', () => {
      const d = decide({ kind: 'quick_reply', payload: 'keep' }, { topics: { fallzahlen: { state: 'unsubscribed' } } });
      expect(d.intent).to.equal('help');
      expect(d.actions.some((a) => a.type === 'subscribe')).to.equal(false);
    });

    it('an unknown payload falls back to the button text', () => {
      expect(decide({ kind: 'quick_reply', payload: 'xyz', text: 'Abmelden' }).intent).to.equal('stop');
    });
  });

  describe('reactions and other messages', () => {
    it('a reaction does nothing and does not open the window', () => {
      const d = decide({ kind: 'reaction' }, { topics: { fallzahlen: { state: 'subscribed' } } });
      expect(d).to.deep.include({ intent: 'ignored', actions: [], replies: [] });
      expect(opensWindow('reaction')).to.equal(false);
      for (const kind of ['text', 'button_reply', 'quick_reply', 'other'] as const) expect(opensWindow(kind)).to.equal(true);
    });

    it('anything else gets the help text listing the keywords, and records it', () => {
      const d = decide({ kind: 'other' });
      expect(d.intent).to.equal('help');
      expect(d.actions).to.deep.equal([{ type: 'record-help-sent', at: NOW }]);
      expect(d.replies).to.deep.equal([{ kind: 'text', body: 'de: write "Fallzahlen", "START", "Wetter" for Fallzahlen, Wetter, or STOP' }]);
    });
  });

  describe('help at most once per window', () => {
    const L = new Date('2026-03-09T12:00:00Z'); // the previous inbound message
    const at = (ms: number) => new Date(L.getTime() + ms);

    it('is sent on first contact and when there is no previous help', () => {
      expect(decide({ text: 'hallo' }).intent).to.equal('help');
      expect(decide({ text: 'hallo' }, { lastInboundAt: L }).intent).to.equal('help');
    });

    it('is not sent again while the window that got it is still open', () => {
      const contact = { lastInboundAt: L, lastHelpSentAt: at(1000) };
      const d = decide({ text: 'hallo?', timestamp: at(WINDOW_MS - 1) }, contact);
      expect(d).to.deep.include({ intent: 'help-suppressed', actions: [], replies: [] });
    });

    it('is sent again at exactly 24 h after the previous inbound message: the window had closed', () => {
      expect(decide({ text: 'hallo?', timestamp: at(WINDOW_MS) }, { lastInboundAt: L, lastHelpSentAt: at(1000) }).intent).to.equal('help');
    });

    it('the edges of helpAlreadySentInWindow', () => {
      const contact = (help: Date, extra: Partial<ConversationContact> = {}): ConversationContact => ({ topics: {}, lastInboundAt: L, lastHelpSentAt: help, ...extra });
      // help answered exactly the previous inbound: same window
      expect(helpAlreadySentInWindow(contact(L), at(WINDOW_MS - 1))).to.equal(true);
      // help before the previous inbound but less than 24 h before this message: the window is unbroken since
      expect(helpAlreadySentInWindow(contact(at(-HOUR)), at(WINDOW_MS - HOUR - 1))).to.equal(true);
      expect(helpAlreadySentInWindow(contact(at(-HOUR)), at(WINDOW_MS - HOUR))).to.equal(false);
      // a chatty auto-responder writing every hour gets help once, not every other message
      expect(helpAlreadySentInWindow(contact(at(-2 * HOUR)), at(HOUR))).to.equal(true);
      // older help counts only when the store says the unbroken window began before it
      expect(helpAlreadySentInWindow(contact(at(-30 * HOUR), { windowOpenedAt: at(-40 * HOUR) }), at(HOUR))).to.equal(true);
      expect(helpAlreadySentInWindow(contact(at(-30 * HOUR), { windowOpenedAt: at(-29 * HOUR) }), at(HOUR))).to.equal(false);
      expect(helpAlreadySentInWindow(contact(at(-30 * HOUR)), at(HOUR))).to.equal(false);
      // no previous inbound, or no help: not sent
      expect(helpAlreadySentInWindow({ topics: {}, lastHelpSentAt: L }, at(1))).to.equal(false);
      expect(helpAlreadySentInWindow({ topics: {}, lastInboundAt: L }, at(1))).to.equal(false);
      // a late webhook older than the previous inbound still falls in the open window
      expect(helpAlreadySentInWindow(contact(L), at(-HOUR))).to.equal(true);
    });

    it('keywords and stops are always answered, whatever help was sent', () => {
      const contact = { lastInboundAt: L, lastHelpSentAt: at(1000) };
      expect(decide({ text: 'STOP', timestamp: at(HOUR) }, contact).replies).to.have.length(1);
      expect(decide({ text: 'START', timestamp: at(HOUR) }, contact).replies).to.have.length(1);
    });
  });
});
