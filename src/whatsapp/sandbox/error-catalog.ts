import { randomBytes } from 'node:crypto';

/**
 * The errors the sandbox answers with, shaped like the Cloud API's: the code, Meta's title,
 * a detail text and the HTTP status Meta uses (mostly 400; clients must branch on the code).
 */
export interface CatalogEntry {
  title: string;
  details: string;
  httpStatus: number;
  type?: string;
}

export const ERROR_CATALOG: Readonly<Record<number, CatalogEntry>> = Object.freeze({
  1: { title: 'API Unknown', details: 'Invalid request or possible server error.', httpStatus: 400 },
  2: { title: 'API Service', details: 'Temporary due to downtime or due to being overloaded.', httpStatus: 503 },
  4: { title: 'API Too Many Calls', details: 'The app has reached its API call rate limit.', httpStatus: 400 },
  100: { title: 'Invalid parameter', details: 'The request included invalid or unsupported parameters.', httpStatus: 400 },
  190: { title: 'Invalid OAuth access token - Cannot parse access token', details: 'The access token is invalid or has expired.', httpStatus: 401 },
  368: { title: 'Temporarily blocked for policies violations', details: 'The WhatsApp Business Account is restricted.', httpStatus: 400 },
  80007: { title: 'Rate limit issues', details: 'The WhatsApp Business Account has reached its rate limit.', httpStatus: 400 },
  130429: { title: 'Rate limit hit', details: 'Cloud API message throughput has been reached.', httpStatus: 429 },
  131000: { title: 'Something went wrong', details: 'Message failed to send due to an unknown error.', httpStatus: 500 },
  131009: { title: 'Parameter value is not valid', details: 'One or more parameter values are invalid.', httpStatus: 400 },
  131026: { title: 'Message Undeliverable', details: 'Unable to deliver message: the recipient is not on WhatsApp or uses an old app.', httpStatus: 400 },
  131031: { title: 'Account has been locked', details: 'The business account was restricted or disabled.', httpStatus: 400 },
  131047: { title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.', httpStatus: 400 },
  131048: { title: 'Spam rate limit hit', details: 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.', httpStatus: 400 },
  131049: { title: 'Meta chose not to deliver.', details: 'This message was not delivered to maintain healthy ecosystem engagement.', httpStatus: 400 },
  131050: { title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.', details: 'The recipient stopped marketing messages.', httpStatus: 400 },
  131056: { title: '(Business Account, Consumer Account) pair rate limit hit', details: 'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.', httpStatus: 400 },
  131057: { title: 'Account in maintenance mode', details: 'Business Account is in maintenance mode.', httpStatus: 400 },
  131062: { title: 'Business-scoped User ID (BSUID) recipients are not supported for this message.', details: 'This message cannot be sent to a business-scoped user id: send it to the phone number.', httpStatus: 400 },
  132000: { title: 'Number of parameters does not match the expected number of params', details: 'The number of template parameters does not match the template.', httpStatus: 400 },
  132001: { title: 'Template name does not exist in the translation', details: 'The template does not exist in the specified language or is not approved.', httpStatus: 404 },
  132015: { title: 'Template is Paused', details: 'The template is paused due to low quality.', httpStatus: 400 },
  132016: { title: 'Template is Disabled', details: 'The template has been permanently disabled due to low quality.', httpStatus: 400 },
});

export interface MetaErrorBody {
  error: {
    message: string;
    type: string;
    code: number;
    error_data: { messaging_product: 'whatsapp'; details: string };
    fbtrace_id: string;
  };
}

/** An error answer as the Cloud API writes it; `details` and `title` override the catalogue's text. */
export function metaError(code: number, fbtraceId: string, details?: string, title?: string): { status: number; body: MetaErrorBody } {
  const entry = ERROR_CATALOG[code] ?? { title: 'Unknown error', details: 'Unknown error.', httpStatus: 400 };
  return {
    status: entry.httpStatus,
    body: {
      error: {
        message: `(#${code}) ${title ?? entry.title}`,
        type: entry.type ?? 'OAuthException',
        code,
        error_data: { messaging_product: 'whatsapp', details: details ?? entry.details },
        fbtrace_id: fbtraceId,
      },
    },
  };
}

/** A fresh `fbtrace_id`, as every Graph error carries one. */
export function newTraceId(): string {
  return randomBytes(9).toString('base64url');
}

/** What Graph answers for a path or method it does not serve (`GET /v25.0/nothing`, `DELETE .../messages`). */
export function unsupportedRequest(method: string, objectId: string): { status: number; body: { error: { message: string; type: string; code: number; error_subcode: number; fbtrace_id: string } } } {
  return {
    status: 400,
    body: {
      error: {
        message: `Unsupported ${method.toLowerCase()} request. Object with ID '${objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: 'GraphMethodException',
        code: 100,
        error_subcode: 33,
        fbtrace_id: newTraceId(),
      },
    },
  };
}

/** The `errors[]` entry of a `failed` status webhook. */
export function statusError(code: number, details?: string): { code: number; title: string; message: string; error_data: { details: string }; href: string } {
  const entry = ERROR_CATALOG[code] ?? { title: 'Unknown error', details: 'Unknown error.', httpStatus: 400 };
  return {
    code,
    title: entry.title,
    message: entry.title,
    error_data: { details: details ?? entry.details },
    href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
  };
}
