import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../config/index.js';
import { loadConversationConfig, parseConversationConfig } from '../../config/topics.js';
import { ConfigError } from '../../src/domain/errors.js';

const SHIPPED = 'config/topics.json';

function shipped(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(loadConversationConfig(SHIPPED))) as Record<string, unknown>;
}

function problem(json: unknown): string {
  try {
    parseConversationConfig(json, 'topics.json');
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).not.to.include('\n');
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('topics file', () => {
  it('TOPICS_FILE defaults to the shipped config/topics.json', () => {
    expect(loadConfig({}).topicsFile).to.equal(SHIPPED);
    expect(loadConfig({ TOPICS_FILE: '/etc/bot/topics.json' }).topicsFile).to.equal('/etc/bot/topics.json');
  });

  it('the shipped file is valid, frozen and has the fallzahlen topic in German and English', () => {
    const config = loadConversationConfig(SHIPPED);
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.topics[0])).to.equal(true);
    const topic = config.topics.find((t) => t.id === 'fallzahlen');
    expect(topic?.keywords).to.include.members(['Fallzahlen', 'START']);
    expect(topic?.consentQuestion?.de).to.equal('Möchtest du informiert werden, wenn neue Zahlen vorliegen?');
    expect(config.stopKeywords).to.include.members(['STOP', 'Stopp', 'Abmelden', 'Abbestellen', 'Unsubscribe']);
    expect(config.buttons).to.deep.equal({ yes: 'yes', no: 'no', stop: 'stop', keep: 'keep', stopPayloads: ['stop'], keepPayloads: ['keep', 'yes'] });
    expect(config.wording.de.yesButton).to.equal('Ja');
    expect(config).not.to.have.property('$comment');
  });

  it('the shipped file has the nudge wording with its Keep button, per language and for fallzahlen, and no buttons under broadcasts', () => {
    const config = loadConversationConfig(SHIPPED);
    const topic = config.topics.find((t) => t.id === 'fallzahlen');
    expect(topic?.nudge?.de).to.equal('Noch keine neuen Zahlen. Möchtest du weiter informiert werden, wenn es neue gibt?');
    expect(topic?.nudge?.en).to.equal('No new numbers yet. Do you still want to be told when they are out?');
    expect(topic?.broadcastCarriesNudgeButtons).to.equal(false);
    expect(config.wording.de.nudge).to.include('{topic}');
    expect(config.wording.de.keepButton).to.equal('Ja, weiter');
    expect(config.wording.en.keepButton).to.equal('Yes, keep me posted');
  });

  it('a topic without the flag does not carry the buttons; one with it does', () => {
    const json = shipped() as { topics: Record<string, unknown>[] };
    delete json.topics[0]!.broadcastCarriesNudgeButtons;
    delete json.topics[0]!.nudge;
    const parsed = parseConversationConfig(json, 'x');
    expect(parsed.topics[0]?.broadcastCarriesNudgeButtons).to.equal(false);
    expect(parsed.topics[0]?.nudge).to.equal(undefined);
    json.topics[0]!.broadcastCarriesNudgeButtons = true;
    expect(parseConversationConfig(json, 'x').topics[0]?.broadcastCarriesNudgeButtons).to.equal(true);
  });

  it('refuses nudge mistakes, naming the file and the field', () => {
    const longTitle = shipped() as { wording: { en: { keepButton: string } } };
    longTitle.wording.en.keepButton = 'Yes, please keep me posted';
    expect(problem(longTitle)).to.equal('invalid topics file topics.json: wording.en.keepButton: at most 20 characters');

    const noNudge = shipped() as { wording: { de: Record<string, unknown> } };
    delete noNudge.wording.de.nudge;
    expect(problem(noNudge)).to.match(/^invalid topics file topics\.json: wording\.de\.nudge: /);

    const emptyTopicNudge = shipped() as { topics: { nudge: { en: string } }[] };
    emptyTopicNudge.topics[0]!.nudge.en = '  ';
    expect(problem(emptyTopicNudge)).to.equal('invalid topics file topics.json: topics[0].nudge.en: must not be empty');

    const flag = shipped() as { topics: Record<string, unknown>[] };
    flag.topics[0]!.broadcastCarriesNudgeButtons = 'yes';
    expect(problem(flag)).to.equal('invalid topics file topics.json: topics[0].broadcastCarriesNudgeButtons: must be true or false');
  });

  it('the Keep button must be read as keep: a keep payload, and not yes, no or stop', () => {
    const asYes = shipped() as { buttons: Record<string, unknown> };
    asYes.buttons.keep = 'yes';
    expect(problem(asYes)).to.equal('invalid topics file topics.json: buttons.keep: must differ from yes, no and stop');

    const unknown = shipped() as { buttons: Record<string, unknown> };
    unknown.buttons.keep = 'hold';
    expect(problem(unknown)).to.equal('invalid topics file topics.json: buttons.keep: must be one of keepPayloads (keep, yes), or a tap on it is not understood');

    const listed = shipped() as { buttons: Record<string, unknown> };
    listed.buttons.keep = 'hold';
    listed.buttons.keepPayloads = ['hold', 'keep'];
    expect(parseConversationConfig(listed, 'x').buttons.keep).to.equal('hold');
  });

  it('fills in the button defaults', () => {
    const { buttons: _buttons, ...rest } = shipped();
    expect(parseConversationConfig(rest, 'x').buttons.stop).to.equal('stop');
    expect(parseConversationConfig(rest, 'x').buttons.keep).to.equal('keep');
  });

  it('refuses a button title over 20 characters, naming the file and the field', () => {
    const json = shipped() as { wording: { de: { yesButton: string } } };
    json.wording.de.yesButton = 'Ja, sehr gerne, unbedingt';
    expect(problem(json)).to.equal('invalid topics file topics.json: wording.de.yesButton: at most 20 characters');
  });

  it('refuses missing wording, an empty keyword list, a bad topic id and unknown fields', () => {
    const json = shipped() as { wording: { en: Record<string, unknown> }; topics: Record<string, unknown>[] };
    delete json.wording.en.stopped;
    expect(problem(json)).to.match(/^invalid topics file topics\.json: wording\.en\.stopped: /);

    const noKeywords = shipped() as { topics: { keywords: string[] }[] };
    noKeywords.topics[0]!.keywords = [];
    expect(problem(noKeywords)).to.include('topics[0].keywords: needs at least one keyword');

    const badId = shipped() as { topics: { id: string }[] };
    badId.topics[0]!.id = 'Fall Zahlen';
    expect(problem(badId)).to.include('topics[0].id: lower-case letters');

    expect(problem({ ...shipped(), extra: 1 })).to.include('(top level): Unrecognized key');
    expect(problem([])).to.include('(top level)');
  });

  it('refuses a keyword that means two things, even written differently', () => {
    const json = shipped() as { topics: { keywords: string[] }[] };
    json.topics[0]!.keywords.push('stopp!');
    expect(problem(json)).to.match(/topics\[0\]\.keywords\[\d\]: "stopp!" is already a keyword of stopKeywords/);
  });

  it('refuses {topic} where no topic is known', () => {
    const json = shipped() as { wording: { en: { help: string } } };
    json.wording.en.help = 'Write START for {topic}';
    expect(problem(json)).to.include('wording.en.help: {topic} is not available here');
  });

  it('reports an unreadable or non-JSON file in one line with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'topics-'));
    const file = join(dir, 'topics.json');
    writeFileSync(file, '{ "topics": [ ');
    expect(() => loadConversationConfig(file)).to.throw(ConfigError, `invalid topics file ${file}: not JSON`);
    expect(() => loadConversationConfig(join(dir, 'missing.json'))).to.throw(ConfigError, /^cannot read topics file .*missing\.json: ENOENT/);
  });
});
