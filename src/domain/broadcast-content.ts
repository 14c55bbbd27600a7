import { formatInTimeZone } from 'date-fns-tz';
import type { TemplateCategory } from './delivery-policy.js';
import { PermanentError } from './errors.js';

export type FieldSpec = { type: 'number'; fractionDigits?: number } | { type: 'date'; format: string } | { type: 'text' };

export interface TemplateSpec {
  name: string;
  language: string;
  category: TemplateCategory;
  /** Named (`{cases: '{cases}'}`) or positional (`['{cases}']`) body parameters, with placeholders. */
  parameters: Readonly<Record<string, string>> | readonly string[];
  /** Payloads of the template's quick-reply buttons, in order. */
  quickReplies: readonly string[];
}

/** How a topic's broadcasts look: the session text, the fields of its data, its templates. */
export interface TopicContent {
  topic: string;
  /** BCP 47 locale for numbers (`de-DE`). */
  locale: string;
  sessionText: string;
  fields: Readonly<Record<string, FieldSpec>>;
  /** The first is used unless another is asked for by name. */
  templates: readonly TemplateSpec[];
}

export interface RenderedContent {
  sessionText: string;
  template: { name: string; language: string; category: TemplateCategory; bodyParams: Record<string, string> | string[]; quickReplyPayloads: string[] } | undefined;
}

export const MAX_SESSION_TEXT = 4096;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function formatValue(name: string, value: unknown, spec: FieldSpec | undefined, locale: string, timeZone: string): string {
  if (spec?.type === 'number') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(n)) throw new PermanentError(`field "${name}" must be a number, got ${JSON.stringify(value)}`, { code: 'invalid-data' });
    return new Intl.NumberFormat(locale, spec.fractionDigits === undefined ? {} : { minimumFractionDigits: spec.fractionDigits, maximumFractionDigits: spec.fractionDigits }).format(n);
  }
  if (spec?.type === 'date') {
    const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new PermanentError(`field "${name}" must be a date, got ${JSON.stringify(value)}`, { code: 'invalid-data' });
    return formatInTimeZone(date, timeZone, spec.format);
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new PermanentError(`field "${name}" must be text, a number or a date, got ${JSON.stringify(value)}`, { code: 'invalid-data' });
}

function fill(text: string, values: (name: string) => string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => values(name));
}

/**
 * The text and template parameters of one broadcast, with numbers and dates formatted for the
 * topic's locale and time zone. Anything that cannot be filled is a PermanentError naming it,
 * raised before anything is stored.
 */
export function renderContent(content: TopicContent, input: { text?: string; data?: Readonly<Record<string, unknown>>; templateName?: string }, timeZone: string): RenderedContent {
  const data = input.data ?? {};
  const values = (where: string) => (name: string): string => {
    if (!(name in data)) throw new PermanentError(`missing data for {${name}} in the ${where}`, { code: 'invalid-data' });
    return formatValue(name, data[name], content.fields[name], content.locale, timeZone);
  };
  const sessionText = fill(input.text ?? content.sessionText, values(input.text === undefined ? 'session text' : '--text'));
  if (sessionText.trim() === '') throw new PermanentError('the session text is empty', { code: 'invalid-data' });
  if (sessionText.length > MAX_SESSION_TEXT) {
    throw new PermanentError(`the session text has ${sessionText.length} characters, more than WhatsApp's ${MAX_SESSION_TEXT}`, { code: 'invalid-data' });
  }

  const spec = input.templateName === undefined ? content.templates[0] : content.templates.find((t) => t.name === input.templateName);
  if (input.templateName !== undefined && !spec) {
    const known = content.templates.map((t) => t.name).join(', ') || 'none';
    throw new PermanentError(`topic ${content.topic} has no template "${input.templateName}" (configured: ${known})`, { code: 'invalid-data' });
  }
  if (!spec) return { sessionText, template: undefined };
  const templateValues = values(`parameters of template ${spec.name}`);
  const bodyParams = Array.isArray(spec.parameters)
    ? (spec.parameters as readonly string[]).map((p) => fill(p, templateValues))
    : Object.fromEntries(Object.entries(spec.parameters).map(([k, p]) => [k, fill(p, templateValues)]));
  for (const value of Array.isArray(bodyParams) ? bodyParams : Object.values(bodyParams)) {
    if (value.trim() === '') throw new PermanentError(`template ${spec.name} has an empty parameter`, { code: 'invalid-data' });
  }
  return { sessionText, template: { name: spec.name, language: spec.language, category: spec.category, bodyParams, quickReplyPayloads: [...spec.quickReplies] } };
}
