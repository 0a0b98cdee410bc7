import { isSpanContextValid, SpanKind, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ModelCallError, RunCancelledError } from '../errors.js';
import type { ChatMessage } from '../prompts/prompt-template.js';
import { errorType, recordError } from '../telemetry/spans.js';
import type { AnswerModel, ModelRequest, ModelResult, ModelStreamPart } from './answer-model.js';
import type { ModelCallRecorder } from './model-call-outcome.js';

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
  /** Cost and metrics of each finished call (src/model/model-call-outcome.ts). */
  recorder: ModelCallRecorder;
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
  /** The prompt version used (also a local file's, which has no link): the cost counter's pivot. */
  promptVersion?: number;
}

export interface ModelCallResult extends ModelResult {
  /** The model span's id (the Langfuse generation's observation id); undefined when tracing is off. */
  spanId?: string;
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

/** Where the retry loop is: the attempt, the model it asks (the fallback once used), what it retried after. */
interface AttemptState {
  attempt: number;
  model: string;
  usedFallback: boolean;
  retriedAfter: string | undefined;
  startedAt: number;
}

function newAttemptState(request: ModelCallRequest): AttemptState {
  return { attempt: 0, model: request.model, usedFallback: false, retriedAfter: undefined, startedAt: performance.now() };
}

/**
 * How every model call ends, plain or streamed (so whatever is recorded about a call covers both
 * span shapes): on success the response's model, id and usage, the Langfuse-visible warning when
 * it took a retry or a fallback; then cost and metrics (model-call-outcome.ts) on success and on
 * failure alike. A cancelled call (the client left) is neither.
 */
function finishModelCall(deps: ModelCallDeps, span: Span, request: ModelCallRequest, state: AttemptState, end: { result: ModelResult } | { error: unknown }): ModelCallResult | undefined {
  const outcome = { requestModel: state.model, durationSeconds: (performance.now() - state.startedAt) / 1000, promptVersion: request.promptVersion ?? request.promptLink?.version };
  if ('error' in end) {
    if (end.error instanceof RunCancelledError) return undefined;
    recordError(span, end.error);
    deps.recorder.recordModelCallOutcome(span, { ...outcome, error: end.error });
    return undefined;
  }
  const { result } = end;
  recordModelResult(span, result, state);
  deps.recorder.recordModelCallOutcome(span, { ...outcome, result });
  const context = span.spanContext();
  return isSpanContextValid(context) ? { ...result, spanId: context.spanId } : result;
}

function recordModelResult(span: Span, result: ModelResult, outcome: AttemptState): void {
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
  state: AttemptState,
  attemptFn: (model: string, signal: AbortSignal) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const { retry } = deps;
  const sleep = deps.sleep ?? sleepFor;
  const random = deps.random ?? Math.random;
  const deadline = Date.now() + retry.requestTimeoutMs;
  if (deps.fallbackModel) {
    span.setAttributes({ 'app.model.primary': state.model, 'app.model.fallback': deps.fallbackModel, 'app.model.fallback.used': false });
  }
  for (;;) {
    state.attempt += 1;
    const attempt = state.attempt;
    span.setAttribute('app.retry.current_attempt', attempt);
    const thisAttempt = attemptDeadline(Math.max(1, Math.min(retry.attemptTimeoutMs, deadline - Date.now())), options.cancel);
    const { signal } = thisAttempt;
    try {
      return await attemptFn(state.model, signal);
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
      if (!committed && failure === 'rate_limited' && deps.fallbackModel && !state.usedFallback && attempt > retry.maxRetries) {
        // Primary stayed rate limited: one more try on the fallback model (book ch 14).
        state.usedFallback = true;
        state.model = deps.fallbackModel;
        span.addEvent('model.fallback', { 'app.model.fallback.reason': 'rate_limit', 'app.model.fallback.used': true, 'error.type': errorType(error) });
        span.setAttributes({ 'app.model.fallback.used': true, 'app.model.fallback.reason': 'rate_limit', 'gen_ai.request.model': state.model });
        continue;
      }
      const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + random() / 2);
      const wait = Math.max(backoff, retryAfterMs(error) ?? 0);
      const canRetry = retryable && attempt <= retry.maxRetries + (state.usedFallback ? 1 : 0) && Date.now() + wait < deadline;
      if (!canRetry) {
        span.setAttribute('app.retry.final_attempt', attempt);
        throw toModelCallError(failure, error);
      }
      state.retriedAfter = errorType(error);
      await sleep(wait);
    } finally {
      thisAttempt.clear();
    }
  }
}

/**
 * One model call as one span (`openai.responses.create` or
 * `openai.chat.completions.create`): gen_ai attributes, the Langfuse prompt
 * link, and the retry policy above.
 */
export function callModel(deps: ModelCallDeps, request: ModelCallRequest): Promise<ModelCallResult> {
  const spanName = deps.model.api === 'responses' ? 'openai.responses.create' : 'openai.chat.completions.create';
  return deps.tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes: modelSpanAttributes(deps, request, false) }, async (span) => {
    const state = newAttemptState(request);
    try {
      const result = await withRetries(deps, span, state, (model, signal) => deps.model.generate({ ...request, model, signal }));
      return finishModelCall(deps, span, request, state, { result }) as ModelCallResult;
    } catch (error) {
      finishModelCall(deps, span, request, state, { error });
      throw error;
    } finally {
      span.end();
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
export function streamModel(deps: ModelCallDeps, request: ModelCallRequest, options: StreamCallOptions): Promise<ModelCallResult> {
  const spanName = deps.model.api === 'responses' ? 'openai.responses.stream' : 'openai.chat.completions.stream';
  return deps.tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes: modelSpanAttributes(deps, request, true) }, async (span) => {
    const state = newAttemptState(request);
    let chunkCount = 0;
    let completed = false;
    try {
      const result = await withRetries(
        deps,
        span,
        state,
        async (model, signal) => {
          let text = '';
          let done: ModelResult | undefined;
          for await (const part of streamOf(deps.model, { ...request, model, signal })) {
            if (part.type === 'done') {
              done = part.result;
              continue;
            }
            if (!part.text) continue;
            if (chunkCount === 0) {
              span.setAttributes({
                'gen_ai.response.time_to_first_chunk': (performance.now() - state.startedAt) / 1000,
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
      return finishModelCall(deps, span, request, state, { result }) as ModelCallResult;
    } catch (error) {
      const failure = options.cancel?.aborted ? new RunCancelledError() : error;
      finishModelCall(deps, span, request, state, { error: failure });
      throw failure;
    } finally {
      span.setAttributes({
        'app.openai.stream.chunk_count': chunkCount,
        'app.openai.stream.completed': completed,
        'app.openai.stream.cancelled': options.cancel?.aborted ?? false,
      });
      span.end();
    }
  });
}

/** The model's stream, or, for a model that cannot stream, its whole answer as one delta. */
export function streamOf(model: AnswerModel, request: ModelRequest): AsyncIterable<ModelStreamPart> {
  if (model.stream) return model.stream(request);
  return (async function* whole(): AsyncGenerator<ModelStreamPart> {
    const result = await model.generate(request);
    yield { type: 'text', text: result.text };
    yield { type: 'done', result };
  })();
}

/** The provider's stream ended before it said the response was complete (a cut connection). */
export class StreamInterruptedError extends Error {
  override name = 'StreamInterruptedError';
  constructor() {
    super('the model stream ended before the response completed');
  }
}
