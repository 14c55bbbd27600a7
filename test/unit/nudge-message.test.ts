import { expect } from 'chai';
import { loadConversationConfig } from '../../config/topics.js';
import type { ConversationConfig, TopicConfig } from '../../src/domain/conversation-config.js';
import { decideConversation } from '../../src/domain/conversation.js';
import { keepButtonId, nudgeButtons, nudgeMessage } from '../../src/domain/nudge-message.js';

const CONFIG = loadConversationConfig('config/topics.json');
const FALLZAHLEN = CONFIG.topics.find((t) => t.id === 'fallzahlen') as TopicConfig;
const AT = new Date('2026-03-10T12:00:00Z');

/** A tap on a reply button from a subscriber of fallzahlen, as the conversation understands it. */
function tap(buttonId: string, config: ConversationConfig = CONFIG) {
  return decideConversation({
    now: AT,
    config,
    message: { id: 'wamid.TAP', kind: 'button_reply', buttonId, timestamp: AT },
    contact: { phone: '+4915112345678', topics: { fallzahlen: { state: 'subscribed' } }, lastInboundAt: new Date('2026-03-09T12:05:00Z') },
  });
}

describe('nudge message', () => {
  it('asks in the topic\'s own words, with Keep (keep:<topic>) and Stop buttons', () => {
    expect(nudgeMessage(FALLZAHLEN, 'de', CONFIG)).to.deep.equal({
      kind: 'buttons',
      body: 'Noch keine neuen Zahlen. Möchtest du weiter informiert werden, wenn es neue gibt?',
      buttons: [{ id: 'keep:fallzahlen', title: 'Ja, weiter' }, { id: 'stop', title: 'Stopp' }],
    });
    expect(nudgeMessage(FALLZAHLEN, 'en', CONFIG).buttons).to.deep.equal([{ id: 'keep:fallzahlen', title: 'Yes, keep me posted' }, { id: 'stop', title: 'Stop' }]);
  });

  it('a topic without its own wording gets the general nudge with its name filled in', () => {
    const plain: TopicConfig = { id: 'wetter', names: { de: 'Wetter', en: 'weather' }, keywords: ['Wetter'] };
    expect(nudgeMessage(plain, 'en', CONFIG).body).to.equal('No news about weather yet. Do you still want updates?');
    expect(nudgeButtons(plain, 'de', CONFIG)[0]).to.deep.equal({ id: 'keep:wetter', title: 'Ja, weiter' });
  });

  it('a tap on Keep keeps the subscription and thanks; a tap on Stop unsubscribes from everything', () => {
    const keep = tap(keepButtonId('fallzahlen', CONFIG.buttons));
    expect(keep).to.deep.include({ intent: 'keep', topic: 'fallzahlen', actions: [] });
    expect(keep.replies).to.deep.equal([{ kind: 'text', body: CONFIG.wording.de.kept }]);
    const stop = tap(nudgeMessage(FALLZAHLEN, 'de', CONFIG).buttons[1]!.id);
    expect(stop.intent).to.equal('stop');
    expect(stop.actions).to.deep.equal([{ type: 'unsubscribe-all', at: AT, source: 'button', messageId: 'wamid.TAP' }]);
  });

  it('a configured keep word other than the default is used and understood', () => {
    const config: ConversationConfig = { ...CONFIG, buttons: { ...CONFIG.buttons, keep: 'weiter', keepPayloads: ['weiter', 'keep'] } };
    const [keepButton] = nudgeButtons(FALLZAHLEN, 'de', config);
    expect(keepButton?.id).to.equal('weiter:fallzahlen');
    expect(tap(keepButton!.id, config).intent).to.equal('keep');
  });
});
