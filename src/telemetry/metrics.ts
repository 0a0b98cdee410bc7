import { createNoopMeter, metrics, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';

export const METER_NAME = 'order-status-agent';

/**
 * Bucket boundaries the OpenTelemetry semantic conventions advise for each
 * histogram (gen-ai-metrics.md, http-metrics.md), so dashboards built for the
 * conventions read ours unchanged.
 */
export const BUCKETS = {
  /** gen_ai.client.operation.duration, seconds: 10 ms doubling to 82 s. */
  genAiOperationDuration: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
  /** gen_ai.client.token.usage, tokens: powers of 4 up to 67M. */
  genAiTokenUsage: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
  /** http.server.request.duration, seconds. */
  httpServerRequestDuration: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
} as const;

/** HTTP methods the conventions name; anything else is `_OTHER` (a method is client input). */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/**
 * Metric attribute values must come from small, known sets: every distinct
 * value is a time series kept by Prometheus, and metrics carry no ids, users
 * or content. Values built by this service are short tokens; anything else is
 * collapsed to `other` rather than trusted.
 */
const BOUNDED_VALUE = /^[A-Za-z0-9_.:/-]{1,64}$/;
/** Values already accepted (a handful in practice): a Set lookup instead of a regex per record. */
const accepted = new Set<string>();
export function boundedValue(value: string): string {
  if (accepted.has(value)) return value;
  if (!BOUNDED_VALUE.test(value)) return 'other';
  if (accepted.size < 1_024) accepted.add(value);
  return value;
}

export interface ModelCallMeasurement {
  /** `gen_ai.request.model`: the model the call asked for (the fallback model when it was used). */
  requestModel: string;
  durationSeconds: number;
  /** Set when the call failed (after retries). */
  errorType?: string;
  usage?: { inputTokens: number; outputTokens: number };
}

/**
 * The service's OpenTelemetry metrics (SPEC §13), created once. Each fact is
 * recorded where it is owned: the HTTP layer, the model call, the prompt
 * resolver, the agent run and the score sink call these methods.
 */
export class ServiceMetrics {
  private readonly operationDuration: Histogram;
  private readonly tokenUsage: Histogram;
  private readonly httpDuration: Histogram;
  private readonly agentRuns: Counter;
  private readonly promptResolutions: Counter;
  private readonly llmCost: Counter;
  private readonly feedbackScores: Counter;

  constructor(meter: Meter) {
    this.operationDuration = meter.createHistogram('gen_ai.client.operation.duration', {
      description: 'GenAI operation duration.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...BUCKETS.genAiOperationDuration] },
    });
    this.tokenUsage = meter.createHistogram('gen_ai.client.token.usage', {
      description: 'Number of input and output tokens used.',
      unit: '{token}',
      advice: { explicitBucketBoundaries: [...BUCKETS.genAiTokenUsage] },
    });
    this.httpDuration = meter.createHistogram('http.server.request.duration', {
      description: 'Duration of HTTP server requests.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...BUCKETS.httpServerRequestDuration] },
    });
    this.agentRuns = meter.createCounter('app.agent.runs', { description: 'Agent runs by terminal outcome.' });
    this.promptResolutions = meter.createCounter('app.prompt.resolutions', {
      description: 'Prompt resolutions by label, version and where the template came from (langfuse, cache, local, unavailable).',
    });
    this.llmCost = meter.createCounter('app.llm.cost', {
      description: 'Model spend priced with config/model-prices.json.',
      unit: 'USD',
    });
    this.feedbackScores = meter.createCounter('app.feedback.scores', { description: 'Quality scores queued for Langfuse, by name and value.' });
  }

  /** No-op instruments: metrics off (OTEL_SDK_DISABLED, OTEL_METRICS_EXPORTER=none) or a test that ignores them. */
  static noop(): ServiceMetrics {
    return new ServiceMetrics(createNoopMeter());
  }

  /** Instruments on the global MeterProvider (the NodeSDK's in the server and CLIs; no-op when none is registered). */
  static fromGlobal(version?: string): ServiceMetrics {
    return new ServiceMetrics(metrics.getMeter(METER_NAME, version));
  }

  /** One answered HTTP request. `route` is the route template, absent for unmatched URLs. */
  recordHttpRequest(method: string, route: string | undefined, statusCode: number, durationSeconds: number): void {
    const attributes: Attributes = {
      'http.request.method': KNOWN_METHODS.has(method) ? method : '_OTHER',
      'http.response.status_code': statusCode,
    };
    if (route !== undefined) attributes['http.route'] = boundedValue(route);
    this.httpDuration.record(durationSeconds, attributes);
  }

  /** One finished model call (all its retries): duration, and token usage when it succeeded. */
  recordModelCall(call: ModelCallMeasurement): void {
    const base = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': boundedValue(call.requestModel),
    };
    this.operationDuration.record(call.durationSeconds, call.errorType === undefined ? base : { ...base, 'error.type': boundedValue(call.errorType) });
    if (call.usage) {
      this.tokenUsage.record(call.usage.inputTokens, { ...base, 'gen_ai.token.type': 'input' });
      this.tokenUsage.record(call.usage.outputTokens, { ...base, 'gen_ai.token.type': 'output' });
    }
  }

  /** Spend of one priced model call, by model and prompt version (a number; "none" without a managed prompt). */
  recordLlmCost(usd: number, requestModel: string, promptVersion: number | undefined): void {
    this.llmCost.add(usd, {
      'gen_ai.request.model': boundedValue(requestModel),
      'app.prompt.version': promptVersion ?? 'none',
    });
  }

  /** One prompt resolution for a run; `version` is absent when it failed closed (`unavailable`). */
  recordPromptResolution(label: string, version: number | undefined, source: 'langfuse' | 'cache' | 'local' | 'unavailable'): void {
    const attributes: Attributes = { 'app.prompt.label': boundedValue(label), 'app.prompt.fetch.source': source };
    if (version !== undefined) attributes['app.prompt.version'] = version;
    this.promptResolutions.add(1, attributes);
  }

  /** One finished agent run by `app.task.outcome` (answer, escalated, budget_stopped, error). */
  recordAgentRun(outcome: string): void {
    this.agentRuns.add(1, { 'app.task.outcome': boundedValue(outcome) });
  }

  /**
   * One quality score queued for Langfuse (SPEC §9): `user_feedback` positive/negative,
   * `answer_correctness` 0/1, `policy_compliance` pass/fail, `session_resolution` … — the
   * score sink calls this where it queues a score. Never pass free text (comments) here.
   */
  recordFeedbackScore(name: string, value: string | number): void {
    // Numbers: the 0/1 of BOOLEAN and pass/fail-like NUMERIC scores; a continuous value has no bounded label.
    const label = typeof value === 'number' ? (Number.isInteger(value) && Math.abs(value) <= 10 ? String(value) : 'other') : boundedValue(value);
    this.feedbackScores.add(1, { 'score.name': boundedValue(name), 'score.value': label });
  }
}
