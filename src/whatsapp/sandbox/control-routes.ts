import type { FastifyInstance, FastifyReply } from 'fastify';
import { tapByIdAlone, unknownTapNote } from './button-taps.js';
import { contactInput, describeIssue, inboundInput, webhookInput, type ContactInput, type InboundInput } from './control-inputs.js';
import { waIdOf } from './sandbox-state.js';
import type { SentButtons } from './sent-buttons.js';

/** What the routes do with the sandbox (its `Sandbox` methods). */
export interface SandboxControls {
  inbound(input: InboundInput): Promise<{ id: string; delivered: boolean }>;
  messages(filter: { to?: string }): unknown[];
  reset(): Promise<void>;
  setContact(input: ContactInput): Promise<void>;
  setWebhookUrl(url: string | undefined): void;
  userIdOf(phone: string): string;
}

/** Answers a refused control request (400, Graph-shaped like every error of the sandbox). */
export type ControlError = (reply: FastifyReply, message: string) => FastifyReply;

/**
 * The test endpoints that play the contacts' side: `POST /_sandbox/inbound` (a contact writes
 * or taps), `GET /_sandbox/messages`, `POST /_sandbox/reset`, `POST /_sandbox/contacts` and
 * `PUT /_sandbox/webhook`.
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
