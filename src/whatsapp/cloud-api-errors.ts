import { PermanentError, RateLimitedError, TransientError } from '../domain/errors.js';
import { maskPhonesInText } from '../domain/mask-phone.js';

/**
 * What a failed Cloud API call means for the caller, decided by Meta's error `code`
 * (never by the HTTP status alone). `scope` says who is affected: only this contact
 * (go on with the others) or the whole broadcast (pause, slow down or stop it).
 */
export type WhatsAppErrorScope = 'contact' | 'broadcast';

export type WhatsAppErrorKind =
  | 'outside-window'
  | 'undeliverable'
  /** 131062: this message cannot go to a business-scoped user id (`recipient`); the phone number can take it. */
  | 'bsuid-unsupported'
  | 'throughput'
  | 'pair-rate'
  | 'api-rate'
  | 'spam-rate'
  | 'marketing-limit'
  | 'marketing-opt-out'
  | 'template-missing'
  | 'template-paused'
  | 'template-disabled'
  | 'template-parameters'
  | 'invalid-request'
  | 'generic'
  | 'maintenance'
  | 'auth'
  | 'account-blocked'
  | 'timeout'
  | 'connection'
  | 'unknown';

export interface WhatsAppErrorDetails {
  /** Meta's error code as a string (`'131047'`), or `timeout` / `connection` / `http_<status>`. */
  code: string;
  kind: WhatsAppErrorKind;
  /** Whether sending the same message again later may succeed. */
  retry: boolean;
  /** No sooner than this; undefined: use your own backoff. */
  retryAfterMs?: number;
  scope: WhatsAppErrorScope;
  /** HTTP status of the answer, when there was one. */
  httpStatus?: number;
  /** Meta's `error_data.details`, phone numbers masked. */
  details?: string;
  fbtraceId?: string;
  /**
   * True when the request may have reached Meta although no answer came back (timeouts,
   * connections reset after sending): a retry may deliver the message twice.
   */
  mayHaveBeenSent: boolean;
  cause?: unknown;
}

/** Common shape of the three WhatsApp error classes; check with `isWhatsAppError`. */
export interface WhatsAppError extends Error, Omit<WhatsAppErrorDetails, 'cause'> {}

function assign(target: object, details: WhatsAppErrorDetails): void {
  const { cause: _cause, code: _code, ...rest } = details;
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) Object.defineProperty(target, key, { value, enumerable: true });
}

/** Retrying will not help (outside the window, not on WhatsApp, template missing, bad token). */
export class WhatsAppPermanentError extends PermanentError implements WhatsAppError {
  declare readonly kind: WhatsAppErrorKind;
  declare readonly retry: boolean;
  declare readonly retryAfterMs?: number;
  declare readonly scope: WhatsAppErrorScope;
  declare readonly httpStatus?: number;
  declare readonly details?: string;
  declare readonly fbtraceId?: string;
  declare readonly mayHaveBeenSent: boolean;

  constructor(message: string, details: WhatsAppErrorDetails) {
    super(message, { code: details.code, cause: details.cause });
    assign(this, details);
  }
}

/** Retrying later may help (generic errors, maintenance, timeouts, connection errors). */
export class WhatsAppTransientError extends TransientError implements WhatsAppError {
  declare readonly kind: WhatsAppErrorKind;
  declare readonly retry: boolean;
  declare readonly retryAfterMs?: number;
  declare readonly scope: WhatsAppErrorScope;
  declare readonly httpStatus?: number;
  declare readonly details?: string;
  declare readonly fbtraceId?: string;
  declare readonly mayHaveBeenSent: boolean;

  constructor(message: string, details: WhatsAppErrorDetails) {
    super(message, { code: details.code, cause: details.cause });
    assign(this, details);
  }
}

/** Meta asked us to slow down: retry no sooner than `retryAfterMs`. */
export class WhatsAppRateLimitedError extends RateLimitedError implements WhatsAppError {
  declare readonly kind: WhatsAppErrorKind;
  declare readonly retry: boolean;
  declare readonly scope: WhatsAppErrorScope;
  declare readonly httpStatus?: number;
  declare readonly details?: string;
  declare readonly fbtraceId?: string;
  declare readonly mayHaveBeenSent: boolean;

  constructor(message: string, details: WhatsAppErrorDetails & { retryAfterMs: number }) {
    super(message, { code: details.code, cause: details.cause, retryAfterMs: details.retryAfterMs });
    assign(this, details);
  }
}

export type AnyWhatsAppError = WhatsAppPermanentError | WhatsAppTransientError | WhatsAppRateLimitedError;

export function isWhatsAppError(err: unknown): err is AnyWhatsAppError {
  return err instanceof WhatsAppPermanentError || err instanceof WhatsAppTransientError || err instanceof WhatsAppRateLimitedError;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

type ErrorClass = 'permanent' | 'transient' | 'rate-limited';

interface CodeRule {
  kind: WhatsAppErrorKind;
  class: ErrorClass;
  scope: WhatsAppErrorScope;
  /** Suggested wait; for `rate-limited` it is required (a Retry-After header wins). */
  retryAfterMs?: number;
}

/**
 * Meta error code → what to do. `permanent` with scope `broadcast` (spam limit, template
 * paused or disabled) means: no automatic retry, a person must act. See `whatsapp.md`. Codes not listed fall back on the HTTP
 * status (5xx: transient, otherwise permanent for this contact).
 */
export const META_ERROR_RULES: Readonly<Record<string, CodeRule>> = Object.freeze({
  '131047': { kind: 'outside-window', class: 'permanent', scope: 'contact' },
  '470': { kind: 'outside-window', class: 'permanent', scope: 'contact' },
  '131026': { kind: 'undeliverable', class: 'permanent', scope: 'contact' },
  '131062': { kind: 'bsuid-unsupported', class: 'permanent', scope: 'contact' },
  '130429': { kind: 'throughput', class: 'rate-limited', scope: 'broadcast', retryAfterMs: 1 * SECOND },
  '131056': { kind: 'pair-rate', class: 'rate-limited', scope: 'contact', retryAfterMs: 1 * SECOND },
  '4': { kind: 'api-rate', class: 'rate-limited', scope: 'broadcast', retryAfterMs: 1 * MINUTE },
  '80007': { kind: 'api-rate', class: 'rate-limited', scope: 'broadcast', retryAfterMs: 1 * MINUTE },
  '131048': { kind: 'spam-rate', class: 'permanent', scope: 'broadcast' },
  '131049': { kind: 'marketing-limit', class: 'rate-limited', scope: 'contact', retryAfterMs: DAY },
  '131050': { kind: 'marketing-opt-out', class: 'permanent', scope: 'contact' },
  '132001': { kind: 'template-missing', class: 'permanent', scope: 'broadcast' },
  '132000': { kind: 'template-parameters', class: 'permanent', scope: 'broadcast' },
  '132012': { kind: 'template-parameters', class: 'permanent', scope: 'broadcast' },
  '132015': { kind: 'template-paused', class: 'permanent', scope: 'broadcast' },
  '132016': { kind: 'template-disabled', class: 'permanent', scope: 'broadcast' },
  '131000': { kind: 'generic', class: 'transient', scope: 'contact' },
  '1': { kind: 'generic', class: 'transient', scope: 'contact' },
  '2': { kind: 'generic', class: 'transient', scope: 'broadcast', retryAfterMs: 30 * SECOND },
  '131057': { kind: 'maintenance', class: 'transient', scope: 'broadcast', retryAfterMs: 1 * MINUTE },
  '190': { kind: 'auth', class: 'permanent', scope: 'broadcast' },
  '10': { kind: 'auth', class: 'permanent', scope: 'broadcast' },
  '200': { kind: 'auth', class: 'permanent', scope: 'broadcast' },
  '368': { kind: 'account-blocked', class: 'permanent', scope: 'broadcast' },
  '131031': { kind: 'account-blocked', class: 'permanent', scope: 'broadcast' },
  '100': { kind: 'invalid-request', class: 'permanent', scope: 'contact' },
  '131008': { kind: 'invalid-request', class: 'permanent', scope: 'contact' },
  '131009': { kind: 'invalid-request', class: 'permanent', scope: 'contact' },
  '131051': { kind: 'invalid-request', class: 'permanent', scope: 'contact' },
});

export interface MetaErrorInput {
  code: string;
  message?: string;
  details?: string;
  fbtraceId?: string;
  httpStatus?: number;
  /** From a Retry-After header, when the answer had one. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Turns a Meta error (from an API answer or from `statuses[].errors[]` of a webhook) into one
 * of the project's error classes with retry advice.
 */
export function classifyMetaError(input: MetaErrorInput): AnyWhatsAppError {
  const rule = META_ERROR_RULES[input.code] ?? fallbackRule(input.httpStatus);
  const text = maskPhonesInText(input.message ?? `Cloud API error ${input.code}`);
  const message = `WhatsApp ${rule.kind} (${input.code}): ${text}`;
  const base = {
    code: input.code,
    kind: rule.kind,
    scope: rule.scope,
    httpStatus: input.httpStatus,
    details: input.details === undefined ? undefined : maskPhonesInText(input.details),
    fbtraceId: input.fbtraceId,
    mayHaveBeenSent: false,
    cause: input.cause,
  };
  const retryAfterMs = input.retryAfterMs ?? rule.retryAfterMs;
  switch (rule.class) {
    case 'rate-limited':
      return new WhatsAppRateLimitedError(message, { ...base, retry: true, retryAfterMs: retryAfterMs ?? SECOND });
    case 'transient':
      return new WhatsAppTransientError(message, { ...base, retry: true, retryAfterMs });
    case 'permanent':
      return new WhatsAppPermanentError(message, { ...base, retry: false });
  }
}

function fallbackRule(httpStatus: number | undefined): CodeRule {
  if (httpStatus === 429) return { kind: 'unknown', class: 'rate-limited', scope: 'broadcast', retryAfterMs: 5 * SECOND };
  if (httpStatus === undefined || httpStatus >= 500) return { kind: 'unknown', class: 'transient', scope: 'contact' };
  if (httpStatus === 401 || httpStatus === 403) return { kind: 'auth', class: 'permanent', scope: 'broadcast' };
  return { kind: 'unknown', class: 'permanent', scope: 'contact' };
}
