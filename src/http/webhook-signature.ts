import { createHmac, timingSafeEqual } from 'node:crypto';

/** Langfuse signs every webhook: `x-langfuse-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. */
export const SIGNATURE_HEADER = 'x-langfuse-signature';
/** Older (replayed) or future-dated signatures are refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'stale' };

const hmac = (secret: string, timestamp: string, body: Buffer | string): Buffer =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();

/** The header Langfuse would send for this body (the doctor's test event and the tests sign this way). */
export function signLangfuseWebhook(secret: string, body: Buffer | string, unixSeconds: number): string {
  const t = String(Math.floor(unixSeconds));
  return `t=${t},v1=${hmac(secret, t, body).toString('hex')}`;
}

/**
 * Checks the signature over the raw bytes received. Fields are parsed by key (Langfuse's docs
 * once said `s=`; the code sends `v1=`), several `v1` values are accepted (secret rotation),
 * digests are compared in constant time.
 */
export function verifyLangfuseWebhook(header: string | undefined, body: Buffer, secret: string, nowMs: number): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing' };
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const expected = hmac(secret, timestamp, body);
  let match = false;
  for (const signature of signatures) match = timingSafeEqual(signature, expected) || match;
  if (!match) return { ok: false, reason: 'mismatch' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
  return { ok: true };
}
