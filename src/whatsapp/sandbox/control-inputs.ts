import { z } from 'zod';
import { sandboxPhone as phone } from './phone-number.js';
import type { InboundContent } from './webhook-payloads.js';

/** `POST /_sandbox/inbound`: a text, a tap on a reply button, or a tap on a template quick reply. */
export const inboundInput = z
  .object({
    from: phone,
    text: z.string().min(1).max(4096).optional(),
    button: z.object({ id: z.string().min(1), title: z.string().min(1) }).optional(),
    payload: z.string().min(1).optional(),
    /** Seconds since the epoch, like Meta's; default: the sandbox clock's now. */
    timestamp: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
    name: z.string().min(1).max(100).optional(),
    /** `wamid` of the business message this answers. */
    context: z.string().min(1).optional(),
  })
  .refine((v) => [v.button, v.payload].filter((x) => x !== undefined).length + (v.text !== undefined && v.payload === undefined ? 1 : 0) === 1, {
    message: 'give exactly one of text, button or payload',
  });

export type InboundInput = z.input<typeof inboundInput>;

export function inboundContent(input: z.output<typeof inboundInput>): InboundContent {
  if (input.button) return { kind: 'button', id: input.button.id, title: input.button.title };
  if (input.payload !== undefined) return { kind: 'payload', payload: input.payload, text: input.text ?? input.payload };
  return { kind: 'text', text: input.text ?? '' };
}

/** A WhatsApp username as the sandbox takes it: letters, digits, dots and underscores. */
const username = z.string().regex(/^[A-Za-z0-9._]{3,35}$/, 'a username: 3 to 35 letters, digits, dots or underscores');

/**
 * `POST /_sandbox/contacts`: how the sandbox treats one number. Each call sets the number's whole
 * treatment: what it leaves out takes its default (on WhatsApp, no forced error, no delay, no username).
 */
export const contactInput = z.object({
  phone,
  onWhatsApp: z.boolean().default(true),
  /** Every send to this number fails with this Meta code (`times` sends, or until changed). */
  forceError: z
    .object({
      code: z.number().int().positive(),
      times: z.number().int().positive().optional(),
      via: z.enum(['response', 'status']).default('response'),
    })
    .nullable()
    .optional(),
  /** Extra delay before the API answers for this number, to provoke client timeouts. */
  delayMs: z.number().int().min(0).max(600_000).optional(),
  /**
   * A person with a WhatsApp username who has not shared their number: their inbound webhooks
   * carry no phone number, only the BSUID and the username (this one, or one the sandbox makes up
   * for `true`); `false`: the number is shared again.
   */
  username: z.union([z.boolean(), username]).default(false),
});

export type ContactInput = z.input<typeof contactInput>;

/**
 * `POST /_sandbox/contacts` with `newPhone`: the person behind `phone` changes their number to
 * `newPhone` (nothing else may be given with it). `name`: their profile name in the system
 * message's text.
 */
export const numberChangeInput = z.strictObject({
  phone,
  newPhone: phone,
  name: z.string().min(1).max(100).optional(),
});

export type NumberChangeInput = z.input<typeof numberChangeInput>;

export const webhookInput = z.object({ url: z.url({ protocol: /^https?$/ }).nullable() });

/** A zod failure as one line naming the field. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid input';
  const field = issue.path.map(String).join('.');
  return field === '' ? issue.message : `${field}: ${issue.message}`;
}
