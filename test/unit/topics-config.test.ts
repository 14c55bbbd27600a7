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
    expect(config.buttons).to.deep.equal({ yes: 'yes', no: 'no', stop: 'stop', stopPayloads: ['stop'], keepPayloads: ['keep', 'yes'] });
    expect(config.wording.de.yesButton).to.equal('Ja');
    expect(config).not.to.have.property('$comment');
  });

  it('fills in the button defaults', () => {
    const { buttons: _buttons, ...rest } = shipped();
    expect(parseConversationConfig(rest, 'x').buttons.stop).to.equal('stop');
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
