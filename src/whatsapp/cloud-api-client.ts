import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { Config } from '../../config/index.js';
import type { Logger } from '../domain/logger.js';
import { ConfigError } from '../domain/errors.js';
import { classifyMetaError, WhatsAppPermanentError, WhatsAppTransientError, type AnyWhatsAppError } from './cloud-api-errors.js';
import { messageProblem, toCloudApiBody, type ButtonsMessage, type OutboundMessage, type SendResult, type TemplateMessage, type TextMessage } from './messages.js';

export interface CloudApiClientOptions {
  /** `https://graph.facebook.com`, or the sandbox's URL. */
  apiBase: string;
  /** `v25.0` */
  apiVersion: string;
  token: string;
  phoneNumberId: string;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Open connections kept to the API; default 50. */
  maxSockets?: number;
  logger: Logger;
}

/** The part of the Cloud API the worker uses: sending messages. */
export interface CloudApiSender {
  send(message: OutboundMessage): Promise<SendResult>;
}

type Without<T> = Omit<T, 'type'>;

interface MetaErrorBody {
  error?: { code?: unknown; message?: unknown; error_data?: { details?: unknown }; fbtrace_id?: unknown };
}

interface MetaSuccessBody {
  contacts?: { wa_id?: unknown }[];
  messages?: { id?: unknown }[];
}

/** A description of a failed request that is safe to keep and log: no headers, no config, no token. */
export class CloudApiRequestFailure extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'CloudApiRequestFailure';
  }
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** Connections the client's agents made, and those of them whose TCP handshake completed. */
const created = new WeakSet<object>();
const connected = new WeakSet<object>();

/** An agent whose connections are remembered once connected (a TLS one from its TCP connect on). */
function connectionAwareAgent<A extends http.Agent>(agent: A): A {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback);
    if (socket) {
      created.add(socket);
      socket.once('connect', () => connected.add(socket));
    }
    return socket;
  };
  return agent;
}

/**
 * Whether a failed request provably never left this process: it was not written out, and it
 * waited for a connection from the pool (none) or for one that never connected (a request's
 * bytes wait in node until the connect, so a timer that fires first, as after a stall or while
 * the API is unreachable, leaves nothing sent). Anything else may have reached the API.
 */
function neverLeft(err: unknown): boolean {
  const request = (err as { request?: unknown }).request;
  if (!(request instanceof http.ClientRequest) || request.writableFinished) return false;
  const socket = request.socket as object | null;
  // A socket these agents did not see being made proves nothing.
  return socket === null || (created.has(socket) && !connected.has(socket));
}

/**
 * WhatsApp Cloud API client over one axios instance with keep-alive connections.
 * Every outcome is a `SendResult` or one of the WhatsApp error classes; an axios error
 * (which carries the token in its request headers) never leaves this class.
 */
export class CloudApiClient implements CloudApiSender {
  readonly #http: AxiosInstance;
  readonly #agents: [http.Agent, https.Agent];
  readonly #logger: Logger;
  readonly #token: string;
  readonly #path: string;
  readonly #timeoutMs: number;

  constructor(options: CloudApiClientOptions) {
    const maxSockets = options.maxSockets ?? 50;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    // With a `timeout`, an idle kept-alive connection is closed by this side before the server's
    // announced `Keep-Alive: timeout=N` runs out (Node takes N - 1 s), and after the request
    // timeout at the latest. Without one, Node keeps idle connections forever and ignores the
    // announcement, so a send could go out on a connection the server is closing that instant:
    // ECONNRESET, and a delivery nobody can tell was sent or not.
    const agent = { keepAlive: true, maxSockets, timeout: this.#timeoutMs };
    this.#agents = [connectionAwareAgent(new http.Agent(agent)), connectionAwareAgent(new https.Agent(agent))];
    this.#token = options.token;
    this.#logger = options.logger.child({ scope: 'whatsapp' });
    this.#path = `/${encodeURIComponent(options.phoneNumberId)}/messages`;
    this.#http = axios.create({
      baseURL: `${options.apiBase.replace(/\/+$/, '')}/${options.apiVersion}`,
      timeout: this.#timeoutMs,
      httpAgent: this.#agents[0],
      httpsAgent: this.#agents[1],
      headers: { Authorization: `Bearer ${options.token}`, 'Content-Type': 'application/json' },
      validateStatus: () => true,
      maxRedirects: 0,
      transitional: { clarifyTimeoutError: true, silentJSONParsing: true, forcedJSONParsing: true },
    });
  }

  sendText(message: Without<TextMessage>): Promise<SendResult> {
    return this.send({ ...message, type: 'text' });
  }

  /** Interactive reply buttons (one to three); only inside the customer service window. */
  sendButtons(message: Without<ButtonsMessage>): Promise<SendResult> {
    return this.send({ ...message, type: 'buttons' });
  }

  sendTemplate(message: Without<TemplateMessage>): Promise<SendResult> {
    return this.send({ ...message, type: 'template' });
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const problem = messageProblem(message);
    if (problem !== undefined) {
      throw new WhatsAppPermanentError(`WhatsApp invalid-request (invalid_message): ${problem}`, {
        code: 'invalid_message', kind: 'invalid-request', retry: false, scope: 'contact', mayHaveBeenSent: false,
      });
    }
    const started = performance.now();
    let response: AxiosResponse<unknown>;
    try {
      response = await this.#http.post(this.#path, toCloudApiBody(message));
    } catch (err) {
      throw this.#failed(message, this.#requestError(err), started);
    }
    const outcome = this.#interpret(response);
    if (!('wamid' in outcome)) throw this.#failed(message, outcome, started);
    this.#logger.debug('message accepted', { to: message.to, type: message.type, wamid: outcome.wamid, ms: Math.round(performance.now() - started) });
    return outcome;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    for (const agent of this.#agents) agent.destroy();
  }

  #interpret(response: AxiosResponse<unknown>): SendResult | AnyWhatsAppError {
    const body = (typeof response.data === 'object' && response.data !== null ? response.data : {}) as MetaSuccessBody & MetaErrorBody;
    if (response.status >= 200 && response.status < 300) {
      const wamid = body.messages?.[0]?.id;
      const waId = body.contacts?.[0]?.wa_id;
      if (typeof wamid === 'string' && wamid.length > 0) return typeof waId === 'string' ? { wamid, waId } : { wamid };
      return new WhatsAppTransientError(`WhatsApp unknown (bad_response): HTTP ${response.status} without a message id`, {
        code: 'bad_response', kind: 'unknown', retry: true, scope: 'contact', httpStatus: response.status, mayHaveBeenSent: true,
      });
    }
    const error = body.error;
    const code = typeof error?.code === 'number' || typeof error?.code === 'string' ? String(error.code) : `http_${response.status}`;
    return classifyMetaError({
      code,
      message: typeof error?.message === 'string' ? this.#scrub(error.message) : `HTTP ${response.status}`,
      details: typeof error?.error_data?.details === 'string' ? this.#scrub(error.error_data.details) : undefined,
      fbtraceId: typeof error?.fbtrace_id === 'string' ? error.fbtrace_id : undefined,
      httpStatus: response.status,
      retryAfterMs: retryAfterMs(response.headers['retry-after']),
      cause: new CloudApiRequestFailure(`POST ${this.#path} answered HTTP ${response.status}`, code),
    });
  }

  /** Turns a thrown axios/network error into a WhatsApp error, keeping only safe facts. */
  #requestError(err: unknown): AnyWhatsAppError {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
    const text = this.#scrub(err instanceof Error ? err.message : String(err));
    const cause = new CloudApiRequestFailure(`POST ${this.#path} failed: ${text}`, code);
    const unsent = neverLeft(err);
    if (code !== undefined && TIMEOUT_CODES.has(code)) {
      return new WhatsAppTransientError(`WhatsApp timeout (timeout): no answer within ${this.#timeoutMs} ms${unsent ? ', and no connection to send it on' : ''}`, {
        code: 'timeout', kind: 'timeout', retry: true, scope: 'broadcast', mayHaveBeenSent: !unsent, cause,
      });
    }
    return new WhatsAppTransientError(`WhatsApp connection (connection): ${code ?? 'request failed'}: ${text}`, {
      code: 'connection', kind: 'connection', retry: true, scope: 'broadcast', mayHaveBeenSent: !unsent && (code === undefined || !NOT_SENT_CODES.has(code)), cause,
    });
  }

  #failed(message: OutboundMessage, error: AnyWhatsAppError, started: number): AnyWhatsAppError {
    this.#logger.warn('message refused', {
      to: message.to, type: message.type, callbackData: message.callbackData, code: error.code, kind: error.kind,
      retry: error.retry, httpStatus: error.httpStatus, ms: Math.round(performance.now() - started),
      // The network's error code (ECONNRESET, ...) of a request that got no answer.
      networkCode: error.httpStatus === undefined && error.cause instanceof CloudApiRequestFailure ? error.cause.code : undefined,
    });
    return error;
  }

  /** Whatever an upstream (a proxy, a misconfigured base URL) echoes back, the token never passes. */
  #scrub(text: string): string {
    return this.#token.length > 0 ? text.split(this.#token).join('<redacted>') : text;
  }
}

function retryAfterMs(header: unknown): number | undefined {
  if (typeof header !== 'string' || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

/** The client as configured; `apiBase` overrides the configured base (the in-process sandbox's URL). */
export function cloudApiClientFromConfig(whatsapp: Config['whatsapp'], logger: Logger, apiBase = whatsapp.apiBase): CloudApiClient {
  if (apiBase === undefined) throw new ConfigError('no WhatsApp API base: set WHATSAPP_API_BASE or start the sandbox first');
  return new CloudApiClient({
    apiBase,
    apiVersion: whatsapp.apiVersion,
    token: whatsapp.token,
    phoneNumberId: whatsapp.phoneNumberId,
    timeoutMs: whatsapp.timeoutMs,
    maxSockets: whatsapp.maxSockets,
    logger,
  });
}
