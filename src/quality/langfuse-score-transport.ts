import { retryAfterMs } from '../model/model-call.js';
import { createNodeHttpFetch, type FetchFunction } from '../model/node-http-fetch.js';
import { ScoreDeliveryError, type ScoreTransport } from './score-sink.js';

export interface LangfuseScoreTransportOptions {
  publicKey: string;
  secretKey: string;
  baseUrl: string;
  requestTimeoutMs: number;
  /** Default: a keep-alive node:http fetch (tests may pass another). */
  fetch?: FetchFunction;
}

/** 408 and 429 are worth retrying; other 4xx will fail the same way again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Turns a failed request (thrown error, or an HTTP error with its body) into a classified ScoreDeliveryError. */
export function classifyScoreError(error: unknown): ScoreDeliveryError {
  if (error instanceof ScoreDeliveryError) return error;
  const e = error instanceof Error ? error : new Error(String(error));
  const status = (e as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number') {
    const body = (e as { body?: unknown }).body;
    const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : `HTTP ${status}`;
    const headers = (e as { headers?: Headers }).headers;
    return new ScoreDeliveryError(`Langfuse answered ${status}: ${message}`, isRetryableStatus(status), status, headers ? retryAfterMs({ headers }) : undefined);
  }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new ScoreDeliveryError('Langfuse did not answer in time', true);
  // No HTTP status: connection refused or reset, DNS.
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new ScoreDeliveryError(`cannot reach Langfuse: ${cause?.code ?? cause?.message ?? e.message}`, true);
}

/**
 * `POST /api/public/scores` with Basic auth, one score per request, over the
 * keep-alive node:http fetch the model call uses. Not through @langfuse/client:
 * every answered run sends two scores, and its fetcher (the global fetch plus
 * per-call overhead) cost 450 µs of CPU per score on Node 24 (650 on Node 20)
 * against 290 (270) this way, measured in interleaved rounds. Retries and
 * back-off belong to the sink.
 */
export function langfuseScoreTransport(options: LangfuseScoreTransportOptions): ScoreTransport {
  const fetch = options.fetch ?? createNodeHttpFetch();
  const url = `${options.baseUrl.replace(/\/+$/, '')}/api/public/scores`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${options.publicKey}:${options.secretKey}`).toString('base64')}`,
    'content-type': 'application/json',
  };
  return async (score, signal) => {
    // One timer per request, cleared when it settles (an AbortSignal.timeout would outlive it).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer in ${options.requestTimeoutMs} ms`, 'TimeoutError')), options.requestTimeoutMs);
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(score), signal: controller.signal });
      const text = await response.text();
      if (response.ok) return;
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): keep the text.
      }
      throw Object.assign(new Error(`HTTP ${response.status}`), { statusCode: response.status, body, headers: response.headers });
    } catch (error) {
      throw classifyScoreError(error);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  };
}
