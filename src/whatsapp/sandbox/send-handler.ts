import type { Clock } from '../../domain/clock.js';
import { ratePeriodFor, type RateCard } from '../../domain/pricing.js';
import { checkTemplate, type ApprovedTemplate } from './approved-templates.js';
import { metaError, newTraceId } from './error-catalog.js';
import { isMarkRead, readableBody, templateParams, validateMarkRead, validateMessageRequest, type MessageRequest } from './request-validation.js';
import type { SeededRandom } from './seeded-random.js';
import { waIdOf, type AcceptedMessage, type Pricing, type SandboxState } from './sandbox-state.js';
import type { InboundIds, UserIds } from './scoped-ids.js';
import type { StatusWebhooks } from './status-webhooks.js';

export interface SendContext {
  clock: Clock;
  state: SandboxState;
  statuses: StatusWebhooks;
  random: SeededRandom;
  templates: ReadonlyMap<string, ApprovedTemplate>;
  /** Whether status webhooks have somewhere to go (no URL: none are planned). */
  webhooksOn(): boolean;
  /** Share of sends answered with 131000 / HTTP 500. */
  failureRate: number;
  /** `error`: 131047 at once; `failed-status`: accepted, then a `failed` status with 131047. */
  outsideWindow: 'error' | 'failed-status';
  /** The dated pricing rules the status webhooks report by (the worker's own rate card). */
  rateCard: RateCard;
  /** The contacts' business-scoped user ids. */
  userIds: UserIds;
  /** The ids of the contacts' messages, to know the ones that can be marked as read. */
  inboundIds: InboundIds;
}

export interface SendOutcome {
  status: number;
  body: unknown;
  /** Extra delay configured for this contact. */
  delayMs: number;
  /** The message, when it was accepted. */
  accepted?: AcceptedMessage;
}

function refuse(code: number, details?: string, delayMs = 0, title?: string): SendOutcome {
  const { status, body } = metaError(code, newTraceId(), details, title);
  return { status, body, delayMs };
}

/**
 * The decision the Cloud API makes for one `POST .../messages` (after the token check):
 * a mark-as-read request, or a message: validation, recipient, throughput, reachability, forced
 * errors, template, window, pair rate; then the message is accepted and its status webhooks
 * planned.
 */
export function handleSend(ctx: SendContext, body: unknown): SendOutcome {
  if (isMarkRead(body)) return markRead(ctx, body);
  const validation = validateMessageRequest(body);
  if (!validation.ok) return refuse(100, `Param ${validation.field}: ${validation.problem}`, 0, `Invalid parameter: ${validation.field}`);
  const request = validation.request;
  const nowMs = ctx.clock.now().getTime();
  // `to` wins when both are given, as on the platform.
  const byUserId = request.to === undefined;
  const waId = request.to === undefined ? ctx.userIds.waIdOf(request.recipient ?? '') : waIdOf(request.to);
  if (waId === undefined) return refuse(100, 'Param recipient: not a business-scoped user id of a contact of this business', 0, 'Invalid parameter: recipient');
  const contact = ctx.state.contact(waId);
  const delayMs = contact?.delayMs ?? 0;

  if (ctx.failureRate > 0 && ctx.random.chance(ctx.failureRate)) return refuse(131000, undefined, delayMs);
  if (!ctx.state.takeThroughput(nowMs)) return refuse(130429, undefined, delayMs);
  if (contact?.onWhatsApp === false) return refuse(131026, undefined, delayMs);
  const forced = ctx.state.takeForcedError(waId);
  if (forced?.via === 'response') return refuse(forced.code, undefined, delayMs);

  let template: ApprovedTemplate | undefined;
  if (request.type === 'template') {
    const check = checkTemplate(ctx.templates, request.template.name, request.template.language.code, templateParams(request));
    if (!check.ok) return refuse(check.code, check.details, delayMs);
    template = check.template;
    // One-tap, zero-tap and copy-code authentication templates need the phone number; the sandbox refuses every authentication template to a BSUID.
    if (byUserId && template.category === 'AUTHENTICATION') return refuse(131062, undefined, delayMs);
  }
  const windowOpen = ctx.state.windowOpen(waId, nowMs);
  const outsideWindow = request.type !== 'template' && !windowOpen;
  if (outsideWindow && ctx.outsideWindow === 'error') return refuse(131047, undefined, delayMs);
  if (!ctx.state.takePairRate(waId, nowMs)) return refuse(131056, undefined, delayMs);

  const message = accepted(ctx, request, waId, nowMs, template, windowOpen);
  if (byUserId) message.byUserId = true;
  ctx.state.addMessage(message);
  if (ctx.webhooksOn()) {
    if (outsideWindow) ctx.statuses.planFailure(message, 131047, false);
    else if (forced) ctx.statuses.planFailure(message, forced.code, true);
    else ctx.statuses.planDelivery(message);
  }
  const input = (body as { to?: unknown; recipient?: unknown })[byUserId ? 'recipient' : 'to'];
  return {
    status: 200,
    delayMs,
    accepted: message,
    body: {
      messaging_product: 'whatsapp',
      // A send to the phone number names the wa_id, one to the BSUID names the user_id and not the number.
      contacts: [byUserId ? { input, user_id: ctx.userIds.of(waId) } : { input, wa_id: waId }],
      messages: [request.type === 'template' ? { id: message.wamid, message_status: 'accepted' } : { id: message.wamid }],
    },
  };
}

/**
 * Mark as read: `{"success": true}` for the id of a message a contact sent (131009 for any other
 * id, including the business's own messages, as on the platform).
 */
function markRead(ctx: SendContext, body: unknown): SendOutcome {
  const validation = validateMarkRead(body);
  if (!validation.ok) return refuse(100, `Param ${validation.field}: ${validation.problem}`, 0, `Invalid parameter: ${validation.field}`);
  if (ctx.inboundIds.senderOf(validation.request.message_id) === undefined) {
    return refuse(131009, 'Param message_id: not the id of a message this business received', 0);
  }
  return { status: 200, delayMs: 0, body: { success: true } };
}

function accepted(ctx: SendContext, request: MessageRequest, waId: string, nowMs: number, template: ApprovedTemplate | undefined, windowOpen: boolean): AcceptedMessage {
  const message: AcceptedMessage = {
    wamid: ctx.state.nextWamid(),
    to: waId,
    type: request.type,
    body: readableBody(request),
    acceptedAt: new Date(nowMs),
    status: 'accepted',
    pricing: pricing(ctx.rateCard, `+${waId}`, new Date(nowMs), template, windowOpen),
  };
  if (request.biz_opaque_callback_data !== undefined) message.callbackData = request.biz_opaque_callback_data;
  if (request.type === 'template') {
    message.templateName = request.template.name;
    message.templateLanguage = request.template.language.code;
  }
  return message;
}

/**
 * Per-message pricing as Meta reports it in status webhooks, by the rate card's period for the
 * contact's country at that moment: templates are charged, except a utility template inside an
 * open window while that is free; a free-form (service) message inside the window is free, or
 * charged at the utility rate (`regular`) in a period that charges it (from 2026-10-01).
 */
function pricing(card: RateCard, phone: string, at: Date, template: ApprovedTemplate | undefined, windowOpen: boolean): Pricing {
  const period = ratePeriodFor(card, phone, at);
  const charged = (inWindowRule: 'free' | 'utility' | undefined): boolean => inWindowRule === 'utility';
  if (!template) {
    const billable = windowOpen && charged(period?.sessionInWindow);
    return { billable, pricing_model: 'PMP', type: billable ? 'regular' : 'free_customer_service', category: 'service' };
  }
  const category = template.category.toLowerCase() as Pricing['category'];
  const free = category === 'utility' && windowOpen && !charged(period?.utilityTemplateInWindow);
  return { billable: !free, pricing_model: 'PMP', type: free ? 'free_customer_service' : 'regular', category };
}
