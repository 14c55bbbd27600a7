import { z } from 'zod';
import { checkWaId } from '../webhook-schema.js';

/**
 * A phone number as the sandbox takes it (`to` of a send, `from` of a simulated inbound message,
 * a contact's number): digits with the country code, optionally with `+`, spaces, dashes and
 * brackets. It must be a number the worker accepts in a webhook's `wa_id` (the same check), so the
 * sandbox never sends the worker a number the worker then refuses. Gives the wa_id (digits only).
 */
export const sandboxPhone = z.string().max(40, 'not a phone number').transform((value, ctx) => {
  const waId = value.trim().replace(/^\+/, '').replace(/[\s()-]/g, '');
  const checked = /^\d+$/.test(waId) ? checkWaId(waId) : { ok: false as const, problem: 'not a phone number' };
  if (!checked.ok) {
    ctx.addIssue({ code: 'custom', message: checked.problem });
    return z.NEVER;
  }
  return waId;
});
