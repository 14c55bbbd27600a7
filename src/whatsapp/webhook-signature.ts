import { createHmac, timingSafeEqual } from 'node:crypto';

/** The `X-Hub-Signature-256` value Meta sends: `sha256=` + hex HMAC-SHA256 of the raw body. */
export function signBody(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Checks `X-Hub-Signature-256` over the exact bytes received, in constant time.
 * Never parse and re-serialise the body first: any byte that differs breaks the signature.
 */
export function verifySignature(rawBody: Buffer, header: string | string[] | undefined, appSecret: string): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing X-Hub-Signature-256 header' };
  if (Array.isArray(header)) return { ok: false, reason: 'more than one X-Hub-Signature-256 header' };
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match?.[1]) return { ok: false, reason: 'X-Hub-Signature-256 is not of the form sha256=<64 hex digits>' };
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  const given = Buffer.from(match[1], 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'X-Hub-Signature-256 does not match the body' };
}
