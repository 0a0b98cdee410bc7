import { isSpanContextValid, SpanKind, type Attributes, type Tracer } from '@opentelemetry/api';
import { ModelCallError } from '../errors.js';
import type { ChatMessage } from '../prompts/prompt-template.js';
import { errorType, recordError } from '../telemetry/spans.js';
import type { AnswerModel, ModelResult } from './answer-model.js';
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

type Failure = 'rate_limited' | 'quota' | 'timeout' | 'unavailable' | 'client_error';

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
 * whole graph run: under load that pinned every request for 30 s.)
 */
function attemptDeadline(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`attempt exceeded ${ms} ms`, 'TimeoutError')), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * One model call as one span (`openai.responses.create` or
 * `openai.chat.completions.create`): gen_ai attributes, the Langfuse prompt
 * link, and our own retry policy (bounded exponential backoff with jitter,
 * honouring retry-after, per-attempt and per-call deadlines), visible as
 * `app.retry.*` attributes and `model.retry` events.
 */
export interface ModelCallResult extends ModelResult {
  /** The model span's id (the Langfuse generation's observation id); undefined when tracing is off. */
  spanId?: string;
}

export function callModel(deps: ModelCallDeps, request: ModelCallRequest): Promise<ModelCallResult> {
  const { model, retry } = deps;
  const spanName = model.api === 'responses' ? 'openai.responses.create' : 'openai.chat.completions.create';
  const attributes: Attributes = {
    'langfuse.observation.type': 'generation',
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': request.model,
    'gen_ai.request.stream': false,
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

  return deps.tracer.startActiveSpan(spanName, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const sleep = deps.sleep ?? sleepFor;
    const random = deps.random ?? Math.random;
    const deadline = Date.now() + retry.requestTimeoutMs;
    const startedAt = performance.now();
    let modelName = request.model;
    let usedFallback = false;
    let retriedAfter: string | undefined;
    if (deps.fallbackModel) {
      span.setAttributes({ 'app.model.primary': request.model, 'app.model.fallback': deps.fallbackModel, 'app.model.fallback.used': false });
    }
    try {
      for (let attempt = 1; ; attempt += 1) {
        span.setAttribute('app.retry.current_attempt', attempt);
        const thisAttempt = attemptDeadline(Math.max(1, Math.min(retry.attemptTimeoutMs, deadline - Date.now())));
        const { signal } = thisAttempt;
        try {
          const result = await model.generate({ ...request, model: modelName, signal });
          if (usedFallback || retriedAfter) {
            // Langfuse keeps attributes, not span events: say it on the observation itself.
            span.setAttributes({
              'langfuse.observation.level': 'WARNING',
              'langfuse.observation.status_message': usedFallback ? `fell back to ${modelName}: rate_limit` : `retried after ${retriedAfter}`,
            });
          }
          span.setAttributes({
            'app.retry.final_attempt': attempt,
            'gen_ai.response.model': result.responseModel,
            ...(result.responseId ? { 'gen_ai.response.id': result.responseId } : {}),
            ...(result.usage
              ? {
                  'gen_ai.usage.input_tokens': result.usage.inputTokens,
                  'gen_ai.usage.output_tokens': result.usage.outputTokens,
                  ...(result.usage.cachedInputTokens !== undefined
                    ? { 'gen_ai.usage.cache_read.input_tokens': result.usage.cachedInputTokens }
                    : {}),
                }
              : {}),
          });
          deps.recorder.recordModelCallOutcome(span, {
            requestModel: modelName,
            durationSeconds: (performance.now() - startedAt) / 1000,
            promptVersion: request.promptVersion ?? request.promptLink?.version,
            result,
          });
          const context = span.spanContext();
          return isSpanContextValid(context) ? { ...result, spanId: context.spanId } : result;
        } catch (error) {
          const failure = signal.aborted && errorType(error) === 'AbortError' ? 'timeout' : classifyFailure(error);
          const retryable = RETRYABLE.has(failure);
          span.addEvent('model.retry', { 'app.retry.attempt': attempt, 'app.retry.retryable': retryable, 'error.type': errorType(error) });
          if (failure === 'rate_limited' && deps.fallbackModel && !usedFallback && attempt > retry.maxRetries) {
            // Primary stayed rate limited: one more try on the fallback model (book ch 14).
            usedFallback = true;
            modelName = deps.fallbackModel;
            span.addEvent('model.fallback', { 'app.model.fallback.reason': 'rate_limit', 'error.type': errorType(error) });
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
    } catch (error) {
      recordError(span, error);
      deps.recorder.recordModelCallOutcome(span, {
        requestModel: modelName,
        durationSeconds: (performance.now() - startedAt) / 1000,
        promptVersion: request.promptVersion ?? request.promptLink?.version,
        error,
      });
      throw error;
    } finally {
      span.end();
    }
  });
}

