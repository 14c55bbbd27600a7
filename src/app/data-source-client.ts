import axios from 'axios';
import { PermanentError, RateLimitedError, TransientError } from '../domain/errors.js';

/** Where a daily run fetches its data: the URL with its secrets filled in, headers, timeout. */
export interface DataSourceRequest {
  url: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** Larger answers are refused: a daily dataset is a few kilobytes. */
const MAX_ANSWER_BYTES = 5 * 1024 * 1024;
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** The URL without query or credentials, which may hold a secret: for messages. */
export function shownUrl(url: string): string {
  if (!URL.canParse(url)) return '(invalid URL)';
  const { origin, pathname } = new URL(url);
  return `${origin}${pathname}`;
}

/** Retry-After in seconds (its date form counts as 0: the backoff decides then). */
function retryAfterMs(header: unknown): number {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 3600) * 1000 : 0;
}

/**
 * GETs the source and returns its JSON answer. Every failure is one of the project's errors,
 * with a message that names the URL without its query and never a header: no answer in time,
 * unreachable, 408 / 425 / 429 / 5xx are transient (429 with its Retry-After); any other status
 * and an answer that is not JSON are permanent. The axios error, which carries the request
 * headers and so the credentials, never leaves this function.
 */
export async function fetchSourceJson(request: DataSourceRequest): Promise<unknown> {
  const where = shownUrl(request.url);
  let response;
  try {
    response = await axios.get<string>(request.url, {
      headers: { Accept: 'application/json', ...request.headers },
      timeout: request.timeoutMs,
      responseType: 'text',
      transformResponse: (body: string) => body,
      validateStatus: () => true,
      maxContentLength: MAX_ANSWER_BYTES,
      maxRedirects: 3,
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== undefined && TIMEOUT_CODES.has(code)) throw new TransientError(`${where}: no answer within ${request.timeoutMs} ms`, { code: 'source-timeout' });
    if (code === 'ERR_BAD_RESPONSE' || code === 'ERR_FR_MAX_BODY_LENGTH_EXCEEDED') throw new PermanentError(`${where}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`, { code: 'source-too-large' });
    throw new TransientError(`${where}: ${code ?? 'request failed'}`, { code: 'source-unreachable' });
  }
  const { status } = response;
  if (status === 429) throw new RateLimitedError(`${where}: HTTP 429 (too many requests)`, { code: 'source-http-429', retryAfterMs: retryAfterMs(response.headers['retry-after']) });
  if (status === 408 || status === 425 || status >= 500) throw new TransientError(`${where}: HTTP ${status}`, { code: `source-http-${status}` });
  if (status < 200 || status >= 300) throw new PermanentError(`${where}: HTTP ${status}`, { code: `source-http-${status}` });
  try {
    return JSON.parse(response.data);
  } catch (err) {
    throw new PermanentError(`${where}: the answer is not JSON (${(err as Error).message})`, { code: 'source-not-json' });
  }
}
