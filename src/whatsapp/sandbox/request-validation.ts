import { z } from 'zod';
import { sandboxPhone } from './phone-number.js';

/**
 * The body of `POST /{version}/{phone_number_id}/messages`, checked like the Cloud API does:
 * a bad shape is error 100 with a message naming the field.
 */
const base = {
  messaging_product: z.literal('whatsapp'),
  recipient_type: z.literal('individual').optional(),
  /** The phone number; wins over `recipient` when both are given. */
  to: sandboxPhone.optional(),
  /** The contact's business-scoped user id, for a send without the phone number (not looked at when `to` is given). */
  recipient: z.string().max(160).optional(),
  biz_opaque_callback_data: z.string().max(512).optional(),
  context: z.object({ message_id: z.string().min(1) }).optional(),
};

const textMessage = z.object({
  ...base,
  type: z.literal('text'),
  text: z.object({ body: z.string().min(1).max(4096), preview_url: z.boolean().optional() }),
});

const replyButton = z.object({
  type: z.literal('reply'),
  reply: z.object({ id: z.string().min(1).max(256), title: z.string().min(1).max(20) }),
});

const interactiveMessage = z.object({
  ...base,
  type: z.literal('interactive'),
  interactive: z.object({
    type: z.literal('button'),
    header: z.object({ type: z.literal('text'), text: z.string().min(1).max(60) }).optional(),
    body: z.object({ text: z.string().min(1).max(1024) }),
    footer: z.object({ text: z.string().min(1).max(60) }).optional(),
    action: z.object({ buttons: z.array(replyButton).min(1).max(3) }),
  }),
});

const textParameter = z.object({ type: z.literal('text'), text: z.string().min(1).max(32768), parameter_name: z.string().regex(/^[a-z0-9_]+$/).optional() });

const bodyComponent = z.object({ type: z.literal('body'), parameters: z.array(textParameter).min(1) });
const buttonComponent = z.object({
  type: z.literal('button'),
  sub_type: z.literal('quick_reply'),
  index: z.union([z.string().regex(/^\d$/), z.number().int().min(0).max(9)]),
  parameters: z.array(z.object({ type: z.literal('payload'), payload: z.string().min(1).max(1000) })).length(1),
});

const templateMessage = z.object({
  ...base,
  type: z.literal('template'),
  template: z.object({
    name: z.string().min(1).max(512),
    language: z.object({ code: z.string().regex(/^[a-z]{2,3}(_[A-Za-z]{2,4})?$/, 'not a language code'), policy: z.literal('deterministic').optional() }),
    components: z.array(z.discriminatedUnion('type', [bodyComponent, buttonComponent])).optional(),
  }),
});

const messageRequest = z.discriminatedUnion('type', [textMessage, interactiveMessage, templateMessage]).superRefine((request, ctx) => {
  if (request.to === undefined && !request.recipient) ctx.addIssue({ code: 'custom', path: ['to'], message: 'required (or recipient: a business-scoped user id)' });
});

/** Mark as read: the contact's message with this id (and the ones before it) show blue ticks; optionally a typing indicator. */
const markReadRequest = z.object({
  messaging_product: z.literal('whatsapp'),
  status: z.literal('read'),
  message_id: z.string().min(1).max(256),
  typing_indicator: z.object({ type: z.literal('text') }).optional(),
});

export type MessageRequest = z.infer<typeof messageRequest>;
export type TemplateRequest = z.infer<typeof templateMessage>;
export type MarkReadRequest = z.infer<typeof markReadRequest>;

export type Validation<T> = { ok: true; request: T } | { ok: false; field: string; problem: string };

function validate<T>(schema: z.ZodType<T>, body: unknown): Validation<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return { ok: true, request: parsed.data };
  const issue = parsed.error.issues[0];
  if (!issue) return { ok: false, field: '(body)', problem: 'invalid' };
  return { ok: false, field: fieldName(issue.path), problem: issue.message };
}

export function validateMessageRequest(body: unknown): Validation<MessageRequest> {
  return validate(messageRequest, body);
}

export function validateMarkRead(body: unknown): Validation<MarkReadRequest> {
  return validate(markReadRequest, body);
}

/** A body with a `status` is a mark-as-read request, not a message (the platform tells them apart the same way). */
export function isMarkRead(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'status' in body;
}

/** `['interactive', 'action', 'buttons', 3]` → `interactive.action.buttons[3]`. */
function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const part of path) name += typeof part === 'number' ? `[${part}]` : `${name === '' ? '' : '.'}${String(part)}`;
  return name === '' ? '(body)' : name;
}

/** The body parameters and quick-reply payloads of a template send, for the approved-list check. */
export function templateParams(request: TemplateRequest): { named: string[]; positional: number; quickReplies: number } {
  const components = request.template.components ?? [];
  const named: string[] = [];
  let positional = 0;
  let quickReplies = 0;
  for (const c of components) {
    if (c.type === 'button') quickReplies++;
    else for (const p of c.parameters) if (p.parameter_name === undefined) positional++; else named.push(p.parameter_name);
  }
  return { named, positional, quickReplies };
}

/** The text a person would read, for `GET /_sandbox/messages`. */
export function readableBody(request: MessageRequest): string {
  switch (request.type) {
    case 'text':
      return request.text.body;
    case 'interactive':
      return request.interactive.body.text;
    case 'template': {
      const params = (request.template.components ?? []).flatMap((c) => (c.type === 'body' ? c.parameters.map((p) => (p.parameter_name ? `${p.parameter_name}=${p.text}` : p.text)) : []));
      return params.join(', ');
    }
  }
}
