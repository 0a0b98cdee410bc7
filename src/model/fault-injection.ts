import type { AnswerModel, ModelRequest, ModelResult, ModelStreamPart } from './answer-model.js';
import { streamOf } from './model-call.js';

/** Failures a model provider produces, as the OpenAI SDK (through ChatOpenAI) raises them. */
export const PROVIDER_FAILURES = ['timeout', 'rate_limit', 'insufficient_quota', 'server_error', 'bad_request'] as const;
export type ProviderFailure = (typeof PROVIDER_FAILURES)[number];

/** Fields the OpenAI SDK's APIError carries, and which the retry policy reads. */
class SimulatedApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly type: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.error = { message, type, param: null, code };
  }
  readonly error: { message: string; type: string; param: null; code: string | null };
}
// Named like the SDK's classes: `error.type` on spans is the class name.
class RateLimitError extends SimulatedApiError {}
class InternalServerError extends SimulatedApiError {}
class BadRequestError extends SimulatedApiError {}

/**
 * A provider failure shaped like the real one (status, code, body, headers), for the scenarios'
 * fault injection and the retry-classification scenario. Nothing is sent anywhere.
 */
export function simulatedProviderError(kind: ProviderFailure): Error {
  switch (kind) {
    case 'timeout':
      // What an attempt that outlived its deadline raises (model-call.ts attemptDeadline).
      return new DOMException('simulated: the model attempt exceeded its deadline', 'TimeoutError');
    case 'rate_limit':
      return new RateLimitError('simulated: Rate limit reached for requests', 429, 'rate_limit_exceeded', 'requests', { 'retry-after-ms': '0' });
    case 'insufficient_quota': {
      const error = new RateLimitError('simulated: You exceeded your current quota', 429, 'insufficient_quota', 'insufficient_quota');
      error.name = 'InsufficientQuotaError'; // as @langchain/openai renames it
      return error;
    }
    case 'server_error':
      return new InternalServerError('simulated: The server had an error while processing your request', 500, null, 'server_error');
    case 'bad_request':
      return new BadRequestError('simulated: Invalid request', 400, null, 'invalid_request_error');
  }
}

/**
 * The model seam with faults injected in front of it: the next calls fail as the provider would,
 * before anything is sent; every other call goes to the wrapped model. The scenarios' explicit
 * way to show retries and fallbacks (no monkey-patching, no provider needed).
 */
export class FaultInjectingModel implements AnswerModel {
  readonly api: AnswerModel['api'];
  readonly serverAddress: string;
  readonly offline: boolean;
  private readonly queued: (() => Error)[] = [];

  constructor(private readonly inner: AnswerModel) {
    this.api = inner.api;
    this.serverAddress = inner.serverAddress;
    this.offline = inner.offline;
  }

  /** The next `times` attempts fail with `kind`. */
  failNext(kind: ProviderFailure, times = 1): void {
    for (let i = 0; i < times; i += 1) this.queued.push(() => simulatedProviderError(kind));
  }

  /** Drops faults that were not used. */
  clear(): void {
    this.queued.length = 0;
  }

  generate(request: ModelRequest): Promise<ModelResult> {
    const fault = this.queued.shift();
    return fault ? Promise.reject(fault()) : this.inner.generate(request);
  }

  stream(request: ModelRequest): AsyncIterable<ModelStreamPart> {
    const fault = this.queued.shift();
    if (!fault) return streamOf(this.inner, request);
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(fault()) }) };
  }
}

