import type { FastifyInstance, FastifyReply } from 'fastify';
import { tapByIdAlone, unknownTapNote } from './button-taps.js';
import { contactInput, describeIssue, inboundInput, numberChangeInput, webhookInput, type ContactInput, type InboundInput, type NumberChangeInput } from './control-inputs.js';
import { waIdOf } from './sandbox-state.js';
import type { SentButtons } from './sent-buttons.js';

/**
 * A number change made: the id of the `system` message and whether the webhook was answered with
 * 2xx, and the person's number and BSUID after and before.
 */
export interface NumberChangeResult {
  ok: true;
  id: string;
  delivered: boolean;
  waId: string;
  userId: string;
  previous: { waId: string; userId: string };
}

/** What the routes do with the sandbox (its `Sandbox` methods). */
export interface SandboxControls {
  inbound(input: InboundInput): Promise<{ id: string; delivered: boolean }>;
  messages(filter: { to?: string }): unknown[];
  reset(): Promise<void>;
  setContact(input: ContactInput): Promise<void>;
  changeNumber(input: NumberChangeInput): Promise<NumberChangeResult | { ok: false; problem: string }>;
  setWebhookUrl(url: string | undefined): void;
  userIdOf(phone: string): string;
}

/** Answers a refused control request (400, Graph-shaped like every error of the sandbox). */
export type ControlError = (reply: FastifyReply, message: string) => FastifyReply;

/**
 * The test endpoints that play the contacts' side: `POST /_sandbox/inbound` (a contact writes
 * or taps), `GET /_sandbox/messages`, `POST /_sandbox/reset`, `POST /_sandbox/contacts` and
 * `PUT /_sandbox/webhook`. `POST /_sandbox/contacts` with `newPhone` is a number change.
 */
export function registerControlRoutes(app: FastifyInstance, sandbox: SandboxControls, sentButtons: SentButtons, refuse: ControlError): void {
  app.post('/_sandbox/inbound', async (request, reply) => {
    const tap = tapByIdAlone(request.body, sentButtons);
    if (tap.error !== undefined) return refuse(reply, tap.error);
    const parsed = inboundInput.safeParse(tap.body);
    if (!parsed.success) return refuse(reply, describeIssue(parsed.error));
    const note = unknownTapNote(parsed.data, sentButtons);
    return { ...(await sandbox.inbound(parsed.data)), ...(note === undefined ? {} : { note }) };
  });
  app.get<{ Querystring: { to?: string } }>('/_sandbox/messages', async (request) => ({ messages: sandbox.messages({ to: request.query.to }) }));
  app.post('/_sandbox/reset', async () => {
    await sandbox.reset();
    return { ok: true };
  });
  app.post('/_sandbox/contacts', async (request, reply) => {
    if (typeof request.body === 'object' && request.body !== null && 'newPhone' in request.body) {
      const change = numberChangeInput.safeParse(request.body);
      if (!change.success) return refuse(reply, describeIssue(change.error));
      const changed = await sandbox.changeNumber(change.data);
      return changed.ok ? changed : refuse(reply, changed.problem);
    }
    const parsed = contactInput.safeParse(request.body);
    if (!parsed.success) return refuse(reply, describeIssue(parsed.error));
    await sandbox.setContact(parsed.data);
    const waId = waIdOf(parsed.data.phone);
    return { ok: true, waId, userId: sandbox.userIdOf(waId) };
  });
  app.put('/_sandbox/webhook', async (request, reply) => {
    const parsed = webhookInput.safeParse(request.body);
    if (!parsed.success) return refuse(reply, describeIssue(parsed.error));
    sandbox.setWebhookUrl(parsed.data.url ?? undefined);
    return { ok: true };
  });
}
