import { SpanKind, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ModelCallError, RunCancelledError } from '../errors.js';
import type { ChatMessage } from '../prompts/prompt-template.js';
import { errorType, recordError } from '../telemetry/spans.js';
import type { AnswerModel, ModelResult } from './answer-model.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  attemptTimeoutMs: number;
  /** Deadline for the whole call, retries included. */
  requestTimeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ModelCallDeps {
  tracer: Tracer;
  model: AnswerModel;
  retry: RetryPolicy;
  /** Used when the primary model stays rate limited (not on insufficient_quota). */
  fallbackModel?: string;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface PromptLink {
  name: string;
  version: number;
  label: string;
}

export interface ModelCallRequest {
  messages: ChatMessage[];
  model: string;
  temperature?: number;
  maxOutputTokens?: number;
  promptLink?: PromptLink;
}

interface ProviderError {
  status?: number;
  code?: string;
  headers?: Headers | Record<string, string | undefined>;
  error?: { code?: string };
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function header(error: ProviderError, name: string): string | undefined {
  const h = error.headers;
  if (!h) return undefined;
  return typeof (h as Headers).get === 'function' ? ((h as Headers).get(name) ?? undefined) : (h as Record<string, string | undefined>)[name];
}

/** Server-requested wait: `retry-after-ms`, `retry-after` seconds, or an HTTP date. */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  const e = (error ?? {}) as ProviderError;
  const ms = Number(header(e, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = header(e, 'retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function providerCode(error: unknown): string | undefined {
  const e = (error ?? {}) as ProviderError;
  return e.code ?? e.error?.code;
}

export type Failure = 'rate_limited' | 'quota' | 'timeout' | 'unavailable' | 'client_error';

export function classifyFailure(error: unknown): Failure {
  const status = (error as ProviderError | undefined)?.status;
  const name = errorType(error);
  if (status === 429) return providerCode(error) === 'insufficient_quota' ? 'quota' : 'rate_limited';
  if (name === 'TimeoutError' || name === 'APIConnectionTimeoutError' || status === 408) return 'timeout';
  if (typeof status === 'number') return status >= 500 || status === 409 ? 'unavailable' : 'client_error';
  // No HTTP status: connection refused/reset, DNS, socket hang-up.
  return 'unavailable';
}

const RETRYABLE: ReadonlySet<Failure> = new Set(['rate_limited', 'timeout', 'unavailable']);

/** The retry policy's verdict on one provider error (a 429 `insufficient_quota` is never retried). */
export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has(classifyFailure(error));
}

function toModelCallError(failure: Failure, error: unknown): ModelCallError {
  const type = errorType(error);
  switch (failure) {
    case 'rate_limited':
      return new ModelCallError('the model provider is rate limiting requests', 'model_rate_limited', 503, type);
    case 'quota':
      return new ModelCallError('the model provider account is out of quota', 'model_unavailable', 503, type);
    case 'timeout':
      return new ModelCallError('the model did not answer in time', 'model_timeout', 504, type);
    case 'unavailable':
      return new ModelCallError('the model provider is unavailable', 'model_unavailable', 502, type);
    case 'client_error':
      return new ModelCallError('the model provider rejected the request', 'model_error', 502, type);
  }
}

/**
 * An abort signal for one attempt whose timer is cleared when the attempt ends.
 * (AbortSignal.timeout's timer lives on, and with it the async context of the
 * whole graph run: under load that pinned every request for 30 s.) It also
 * follows `cancel` (the client went away), without keeping a listener on it.
 */
function attemptDeadline(ms: number, cancel?: AbortSignal): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`attempt exceeded ${ms} ms`, 'TimeoutError')), ms);
  const onCancel = () => controller.abort(cancel?.reason);
  if (cancel?.aborted) onCancel();
  else cancel?.addEventListener('abort', onCancel, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
    },
  };
}

/** The §3 attributes both span shapes share: request, prompt link, retry policy. */
function modelSpanAttributes(deps: ModelCallDeps, request: ModelCallRequest, stream: boolean): Attributes {
  const { model, retry } = deps;
  const attributes: Attributes = {
    'langfuse.observation.type': 'generation',
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': request.model,
    'gen_ai.request.stream': stream,
    'server.address': model.serverAddress,
    'app.retry.max_attempts': retry.maxRetries + 1,
  };
  if (model.api === 'responses') attributes['app.openai.store'] = false;
  if (model.offline) attributes['app.model.offline'] = true;
  if (request.temperature !== undefined) attributes['gen_ai.request.temperature'] = request.temperature;
  if (request.maxOutputTokens !== undefined) attributes['gen_ai.request.max_tokens'] = request.maxOutputTokens;
  if (request.promptLink) {
    // Name and version together, version as an INTEGER: otherwise Langfuse drops the generation.
    attributes['langfuse.observation.prompt.name'] = request.promptLink.name;
    attributes['langfuse.observation.prompt.version'] = Math.trunc(request.promptLink.version);
    attributes['langfuse.observation.metadata.prompt_label'] = request.promptLink.label;
  }
  return attributes;
}

/** What the retry loop tells the success path about how the answer was obtained. */
interface AttemptOutcome {
  attempt: number;
  model: string;
  usedFallback: boolean;
  retriedAfter: string | undefined;
}

/**
 * The success path of every model call, plain or streamed: the response's model, id and usage,
 * and the Langfuse-visible warning when it took a retry or a fallback. (Everything recorded
 * about a successful call belongs here, so it covers both span shapes.)
 */
function recordModelResult(span: Span, result: ModelResult, outcome: AttemptOutcome): void {
  if (outcome.usedFallback || outcome.retriedAfter) {
    // Langfuse keeps attributes, not span events: say it on the observation itself.
    span.setAttributes({
      'langfuse.observation.level': 'WARNING',
      'langfuse.observation.status_message': outcome.usedFallback ? `fell back to ${outcome.model}: rate_limit` : `retried after ${outcome.retriedAfter}`,
    });
  }
  span.setAttributes({
    'app.retry.final_attempt': outcome.attempt,
    'gen_ai.response.model': result.responseModel,
    ...(result.responseId ? { 'gen_ai.response.id': result.responseId } : {}),
    ...(result.usage
      ? {
          'gen_ai.usage.input_tokens': result.usage.inputTokens,
          'gen_ai.usage.output_tokens': result.usage.outputTokens,
          ...(result.usage.cachedInputTokens !== undefined ? { 'gen_ai.usage.cache_read.input_tokens': result.usage.cachedInputTokens } : {}),
        }
      : {}),
  });
}

interface RetryOptions {
  /** The client went away: stop at once, no retry. */
  cancel?: AbortSignal;
  /** Once true (part of the answer reached the client), a failure is final: a retry would repeat it. */
  committed?: () => boolean;
}

/**
 * Our retry policy, shared by the plain and the streamed call: bounded exponential backoff with
 * jitter, honouring retry-after, per-attempt and per-call deadlines, one fallback-model try when
 * the primary stays rate limited (book ch 14); visible as `app.retry.*` attributes and
 * `model.retry` / `model.fallback` events on `span`.
 */
async function withRetries<T>(
  deps: ModelCallDeps,
  span: Span,
  request: ModelCallRequest,
  attemptFn: (model: string, signal: AbortSignal) => Promise<T>,
  options: RetryOptions = {},
): Promise<[T, AttemptOutcome]> {
  const { retry } = deps;
  const sleep = deps.sleep ?? sleepFor;
  const random = deps.random ?? Math.random;
  const deadline = Date.now() + retry.requestTimeoutMs;
  let modelName = request.model;
  let usedFallback = false;
  let retriedAfter: string | undefined;
  if (deps.fallbackModel) {
    span.setAttributes({ 'app.model.primary': request.model, 'app.model.fallback': deps.fallbackModel, 'app.model.fallback.used': false });
  }
  for (let attempt = 1; ; attempt += 1) {
    span.setAttribute('app.retry.current_attempt', attempt);
    const thisAttempt = attemptDeadline(Math.max(1, Math.min(retry.attemptTimeoutMs, deadline - Date.now())), options.cancel);
    const { signal } = thisAttempt;
    try {
      const value = await attemptFn(modelName, signal);
      return [value, { attempt, model: modelName, usedFallback, retriedAfter }];
    } catch (error) {
      if (options.cancel?.aborted) throw new RunCancelledError();
      const failure = signal.aborted && errorType(error) === 'AbortError' ? 'timeout' : classifyFailure(error);
      const committed = options.committed?.() ?? false;
      const retryable = RETRYABLE.has(failure) && !committed;
      span.addEvent('model.retry', {
        'app.retry.attempt': attempt,
        'app.retry.retryable': retryable,
        'error.type': errorType(error),
        ...(committed ? { 'app.retry.blocked_by': 'stream_started' } : {}),
      });
      if (!committed && failure === 'rate_limited' && deps.fallbackModel && !usedFallback && attempt > retry.maxRetries) {
        // Primary stayed rate limited: one more try on the fallback model (book ch 14).
        usedFallback = true;
        modelName = deps.fallbackModel;
        span.addEvent('model.fallback', { 'app.model.fallback.reason': 'rate_limit', 'app.model.fallback.used': true, 'error.type': errorType(error) });
        span.setAttributes({ 'app.model.fallback.used': true, 'app.model.fallback.reason': 'rate_limit', 'gen_ai.request.model': modelName });
        continue;
      }
      const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + random() / 2);
      const wait = Math.max(backoff, retryAfterMs(error) ?? 0);
      const canRetry = retryable && attempt <= retry.maxRetries + (usedFallback ? 1 : 0) && Date.now() + wait < deadline;
      if (!canRetry) {
        span.setAttribute('app.retry.final_attempt', attempt);
        throw toModelCallError(failure, error);
      }
      retriedAfter = errorType(error);
      await sleep(wait);
    } finally {
      thisAttempt.clear();
    }
  }
}

/** Ends a model span: a cancelled call is not a provider failure, anything else thrown is. */
function endModelSpan(span: Span, error: unknown): void {
  if (error !== undefined && !(error instanceof RunCancelledError)) recordError(span, error);
  span.end();
}

/**
 * One model call as one span (`openai.responses.create` or
 * `openai.chat.completions.create`): gen_ai attributes, the Langfuse prompt
 * link, and the retry policy above.
 */
export function callModel(deps: ModelCallDeps, request: ModelCallRequest): Promise<ModelResult> {
  const spanName = deps.model.api === 'responses' ? 'openai.responses.create' : 'openai.chat.completions.create';
  return deps.tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes: modelSpanAttributes(deps, request, false) }, async (span) => {
    let failure: unknown;
    try {
      const [result, outcome] = await withRetries(deps, span, request, (model, signal) => deps.model.generate({ ...request, model, signal }));
      recordModelResult(span, result, outcome);
      return result;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      endModelSpan(span, failure);
    }
  });
}

export interface StreamCallOptions {
  /** Receives each text delta; awaited, so a slow client slows the provider stream (back-pressure). */
  onText: (text: string) => Promise<void> | void;
  /** Aborted when the client goes away: the provider request is cancelled. */
  cancel?: AbortSignal;
}

/**
 * The streamed model call as one span (`openai.responses.stream` or
 * `openai.chat.completions.stream`): the §3 attributes plus time to first chunk, its ISO time
 * (`langfuse.observation.completion_start_time`, Langfuse's time to first token), the chunk count
 * and whether the stream completed or was cancelled. Retries follow the same policy, but only
 * until the first delta went out to the client; a later failure is final.
 */
export function streamModel(deps: ModelCallDeps, request: ModelCallRequest, options: StreamCallOptions): Promise<ModelResult> {
  const spanName = deps.model.api === 'responses' ? 'openai.responses.stream' : 'openai.chat.completions.stream';
  return deps.tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes: modelSpanAttributes(deps, request, true) }, async (span) => {
    const startedAt = performance.now();
    let chunkCount = 0;
    let completed = false;
    let failure: unknown;
    try {
      const [result, outcome] = await withRetries(
        deps,
        span,
        request,
        async (model, signal) => {
          let text = '';
          let done: ModelResult | undefined;
          for await (const part of deps.model.stream({ ...request, model, signal })) {
            if (part.type === 'done') {
              done = part.result;
              continue;
            }
            if (!part.text) continue;
            if (chunkCount === 0) {
              span.setAttributes({
                'gen_ai.response.time_to_first_chunk': (performance.now() - startedAt) / 1000,
                'langfuse.observation.completion_start_time': new Date().toISOString(),
              });
            }
            chunkCount += 1;
            text += part.text;
            await options.onText(part.text);
          }
          if (!done) throw new StreamInterruptedError();
          return { ...done, text: done.text || text };
        },
        { cancel: options.cancel, committed: () => chunkCount > 0 },
      );
      completed = true;
      recordModelResult(span, result, outcome);
      return result;
    } catch (error) {
      failure = options.cancel?.aborted ? new RunCancelledError() : error;
      throw failure;
    } finally {
      span.setAttributes({
        'app.openai.stream.chunk_count': chunkCount,
        'app.openai.stream.completed': completed,
        'app.openai.stream.cancelled': options.cancel?.aborted ?? false,
      });
      endModelSpan(span, failure);
    }
  });
}

/** The provider's stream ended before it said the response was complete (a cut connection). */
export class StreamInterruptedError extends Error {
  override name = 'StreamInterruptedError';
  constructor() {
    super('the model stream ended before the response completed');
  }
}
