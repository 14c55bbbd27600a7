import { z } from 'zod';

/** A template as the sandbox knows it: what Meta's template manager would hold. */
export interface ApprovedTemplate {
  name: string;
  /** `de`, `en_US`, ... */
  language: string;
  category: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
  status: 'APPROVED' | 'PAUSED' | 'DISABLED';
  /**
   * The body with its placeholders: named (`{{cases}}`) or positional (`{{1}}`). When given,
   * the parameters of a send must match it (else error 132000).
   */
  body?: string;
  /** How many quick-reply buttons the template has (payloads beyond that are refused). */
  quickReplies?: number;
}

/** Templates the sandbox accepts when none are configured: the ones the worker ships with. */
export const DEFAULT_TEMPLATES: readonly ApprovedTemplate[] = Object.freeze([
  { name: 'daily_update', language: 'de', category: 'UTILITY', status: 'APPROVED', body: 'Neue Fallzahlen: {{cases}}', quickReplies: 2 },
  { name: 'daily_update', language: 'en', category: 'UTILITY', status: 'APPROVED', body: 'New case numbers: {{cases}}', quickReplies: 2 },
  { name: 'still_interested', language: 'de', category: 'MARKETING', status: 'APPROVED', body: 'Noch keine neuen Zahlen. Weiter Erinnerungen?', quickReplies: 2 },
  { name: 'still_interested', language: 'en', category: 'MARKETING', status: 'APPROVED', body: 'No new numbers yet. Keep the reminders?', quickReplies: 2 },
  { name: 'hello_world', language: 'en_US', category: 'UTILITY', status: 'APPROVED', body: 'Hello World' },
]);

export interface TemplateParams {
  named: string[];
  positional: number;
  quickReplies: number;
}

export type TemplateCheck = { ok: true; template: ApprovedTemplate } | { ok: false; code: 132000 | 132001 | 132015 | 132016; details: string };

/** Looks a send up in the approved list: missing 132001, paused 132015, disabled 132016, parameters 132000. */
export function checkTemplate(templates: ReadonlyMap<string, ApprovedTemplate>, name: string, language: string, params: TemplateParams): TemplateCheck {
  const template = templates.get(templateKey(name, language));
  if (!template) return { ok: false, code: 132001, details: `template name (${name}) does not exist in ${language}` };
  if (template.status === 'PAUSED') return { ok: false, code: 132015, details: `template ${name} (${language}) is paused` };
  if (template.status === 'DISABLED') return { ok: false, code: 132016, details: `template ${name} (${language}) is disabled` };
  if (template.body !== undefined) {
    const wanted = [...template.body.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1] ?? '');
    const positional = wanted.every((w) => /^\d+$/.test(w));
    if (positional ? params.positional !== wanted.length || params.named.length > 0 : !sameSet(wanted, params.named) || params.positional > 0) {
      return { ok: false, code: 132000, details: `body expects ${positional ? `${wanted.length} positional` : `named {${wanted.join(', ')}}`} parameters` };
    }
  }
  if (params.quickReplies > (template.quickReplies ?? 0)) return { ok: false, code: 132000, details: `template ${name} has ${template.quickReplies ?? 0} quick-reply buttons` };
  return { ok: true, template };
}

export function templateKey(name: string, language: string): string {
  return `${name}\u0000${language}`;
}

export function templateMap(templates: readonly ApprovedTemplate[]): Map<string, ApprovedTemplate> {
  return new Map(templates.map((t) => [templateKey(t.name, t.language), t]));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}

const templateSchema = z.array(
  z.object({
    name: z.string().min(1),
    language: z.string().min(2),
    category: z.enum(['MARKETING', 'UTILITY', 'AUTHENTICATION']),
    status: z.enum(['APPROVED', 'PAUSED', 'DISABLED']),
    body: z.string().optional(),
    quickReplies: z.number().int().min(0).max(10).optional(),
  }),
);

/** Reads a templates list (a JSON array of ApprovedTemplate); throws with the first bad field named. */
export function parseTemplates(json: unknown): ApprovedTemplate[] {
  const parsed = templateSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`templates${issue ? `[${issue.path.map(String).join('].[')}]: ${issue.message}` : ': invalid'}`);
}
