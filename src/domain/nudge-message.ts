import { BUTTON_ID_SEPARATOR, fillPlaceholders, placeholderValues, type ButtonConfig, type ConversationConfig, type TopicConfig } from './conversation-config.js';
import type { ReplyButton } from './conversation.js';
import type { Language } from './language.js';

/**
 * The nudge's Keep button id, `<keep>:<topic>` (as the consent buttons are `yes:<topic>`):
 * `parseButtonId` reads a tap on it as "keep" for that topic.
 */
export function keepButtonId(topic: string, buttons: ButtonConfig): string {
  return `${buttons.keep}${BUTTON_ID_SEPARATOR}${topic}`;
}

/**
 * The nudge's reply buttons for a topic: Keep (`keep:<topic>`, keeps the subscription) and Stop
 * (the stop button id, unsubscribes from everything as STOP does). Also what a session broadcast
 * carries when its topic sets `broadcastCarriesNudgeButtons`.
 */
export function nudgeButtons(topic: TopicConfig, language: Language, config: ConversationConfig): ReplyButton[] {
  const w = config.wording[language];
  return [
    { id: keepButtonId(topic.id, config.buttons), title: w.keepButton },
    { id: config.buttons.stop, title: w.stopButton },
  ];
}

/**
 * The nudge as an interactive message: the topic's own wording in the language when it has one,
 * else `wording.<lang>.nudge`, placeholders filled, with `nudgeButtons`.
 */
export function nudgeMessage(topic: TopicConfig, language: Language, config: ConversationConfig): { kind: 'buttons'; body: string; buttons: ReplyButton[] } {
  const text = topic.nudge?.[language] ?? config.wording[language].nudge;
  return { kind: 'buttons', body: fillPlaceholders(text, placeholderValues(language, config, topic)), buttons: nudgeButtons(topic, language, config) };
}
