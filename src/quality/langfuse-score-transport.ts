import { LangfuseClient } from '@langfuse/client';
import { configureGlobalLogger, LangfuseAPITimeoutError, LogLevel } from '@langfuse/core';
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

/** Turns what the Langfuse SDK throws into a classified ScoreDeliveryError. */
export function classifyScoreError(error: unknown): ScoreDeliveryError {
  if (error instanceof ScoreDeliveryError) return error;
  const e = error instanceof Error ? error : new Error(String(error));
  const status = (e as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number') {
    const body = (e as { body?: unknown }).body;
    const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : `HTTP ${status}`;
    const headers = (e as { rawResponse?: { headers?: Headers } }).rawResponse?.headers;
    return new ScoreDeliveryError(`Langfuse answered ${status}: ${message}`, isRetryableStatus(status), status, headers ? retryAfterMs({ headers }) : undefined);
  }
  if (e instanceof LangfuseAPITimeoutError || e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new ScoreDeliveryError('Langfuse did not answer in time', true);
  }
  // No HTTP status: connection refused or reset, DNS.
  return new ScoreDeliveryError(`cannot reach Langfuse: ${e.message}`, true);
}

/**
 * `POST /api/public/scores` (Basic auth) through @langfuse/client, one score
 * per request, the SDK's own retries off: the sink owns retry and back-off.
 */
export function langfuseScoreTransport(options: LangfuseScoreTransportOptions): ScoreTransport {
  // The SDK logs failures (with raw bodies) through console; the sink logs them once through pino.
  configureGlobalLogger({ level: LogLevel.NONE });
  const client = new LangfuseClient({ publicKey: options.publicKey, secretKey: options.secretKey, baseUrl: options.baseUrl });
  return async (score, signal) => {
    try {
      await client.api.legacy.scoreV1.create(score, {
        abortSignal: signal,
        maxRetries: 0,
        timeoutInSeconds: options.requestTimeoutMs / 1000,
      });
    } catch (error) {
      throw classifyScoreError(error);
    }
  };
}
