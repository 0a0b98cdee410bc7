import http from 'node:http';
import https from 'node:https';
import { retryAfterMs } from '../model/model-call.js';
import { ScoreDeliveryError, type ScoreTransport } from './score-sink.js';

export interface LangfuseScoreTransportOptions {
  publicKey: string;
  secretKey: string;
  baseUrl: string;
  requestTimeoutMs: number;
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
 * `POST /api/public/scores` with Basic auth, one score per request, straight on a keep-alive
 * node:http(s) agent. Not through @langfuse/client nor a `fetch`: every answered run sends two
 * scores, the largest cost of a traced request, and the WHATWG Headers/Response/body machinery
 * around each one cost more than the request itself (Node 24: ~200 µs of CPU per score through
 * the node:http fetch, ~80 µs this way; 450 through the client). Retries and back-off belong to
 * the sink.
 */
export function langfuseScoreTransport(options: LangfuseScoreTransportOptions): ScoreTransport {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/api/public/scores`);
  const secure = url.protocol === 'https:';
  const agentOptions = { keepAlive: true, timeout: 4_000 };
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const authorization = `Basic ${Buffer.from(`${options.publicKey}:${options.secretKey}`).toString('base64')}`;
  const target = { protocol: url.protocol, hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'POST', agent };
  return (score, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(classifyScoreError(signal.reason));
        return;
      }
      const body = JSON.stringify(score);
      const request = (secure ? https : http).request({ ...target, headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
      // One timer per request, cleared when it settles.
      const timer = setTimeout(() => request.destroy(new DOMException(`no answer in ${options.requestTimeoutMs} ms`, 'TimeoutError')), options.requestTimeoutMs);
      const onAbort = () => request.destroy(signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError'));
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (error?: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(classifyScoreError(error));
      };
      // a network error is reported as fetch reports it, so the sink logs the same reasons
      request.on('error', (error: Error & { code?: string }) =>
        settle(error.name === 'TimeoutError' || error === signal.reason ? error : new TypeError('fetch failed', { cause: error })),
      );
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => settle(error));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            settle();
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON (a proxy's error page): keep the text.
          }
          settle(Object.assign(new Error(`HTTP ${status}`), { statusCode: status, body: parsed, headers: response.headers }));
        });
      });
      request.end(body);
    });
}
