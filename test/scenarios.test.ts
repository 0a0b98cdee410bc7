import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { runNodeScript } from './support/processes.js';

/** The scenario CLI as a user runs it: a child process, real clients, spans over OTLP/HTTP. */
let langfuse: LangfusePromptStandIn;
let openai: OpenAIStandIn;
let otlp: OtlpReceiver;

beforeAll(async () => {
  langfuse = await startSeededLangfuse('pk-lf-scenario', 'sk-lf-scenario');
  openai = await startOpenAIStandIn({ apiKey: 'sk-scenario', answer: () => 'Your order is being processed.' });
  otlp = await startOtlpReceiver();
});
afterAll(async () => Promise.all([langfuse.close(), openai.close(), otlp.close()]));
beforeEach(() => {
  otlp.reset();
  openai.clearRequests();
});

const scenario = (name: string) =>
  runNodeScript('scenarios/run.ts', [name], {
    LANGFUSE_PUBLIC_KEY: 'pk-lf-scenario',
    LANGFUSE_SECRET_KEY: 'sk-lf-scenario',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    OPENAI_API_KEY: 'sk-scenario',
    OPENAI_BASE_URL: openai.baseURL,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    DEPLOYMENT_ENVIRONMENT: 'development',
    AGENT_VERSION: 'scenario-test',
  });

const roots = (spans: readonly ReceivedSpan[]) => spans.filter((s) => s.name === 'invoke_agent order-status');
const inTrace = (spans: readonly ReceivedSpan[], traceId: string, name: string) => {
  const span = spans.find((s) => s.traceId === traceId && s.name === name);
  if (!span) throw new Error(`no ${name} in trace ${traceId}`);
  return span;
};

describe('npm run scenario', () => {
  it('prompt-management prints `answer` and exports a linked generation', async () => {
    const result = await scenario('prompt-management');
    expect(result.stderr).not.toContain('"level":50');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n');

    const [root] = roots(otlp.spans);
    expect(root).toBeDefined();
    expect(root?.attributes).toMatchObject({
      'langfuse.trace.name': 'manual-prompt-management',
      'langfuse.user.id': 'usr_pseudo_prompt_demo',
      'langfuse.trace.tags': ['order-status', 'prompt-management', 'manual-scenario'],
      'langfuse.trace.metadata.environment': 'development',
      'langfuse.trace.metadata.workflow': 'order-status',
      'langfuse.trace.metadata.region': 'eu',
      'langfuse.version': 'scenario-test',
    });
    expect(String(root?.attributes['langfuse.session.id'])).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(root?.resource).toMatchObject({ 'service.name': 'order-support-agent', 'service.version': 'scenario-test', 'deployment.environment.name': 'development' });
    const model = inTrace(otlp.spans, root!.traceId, 'openai.responses.create');
    expect(model.attributes).toMatchObject({ 'langfuse.observation.prompt.name': 'order-status-answer', 'langfuse.observation.prompt.version': 1, 'langfuse.observation.metadata.prompt_label': 'production' });
    expect(model.attributeTypes['langfuse.observation.prompt.version']).toBe('int');
    expect(model.attributes['langfuse.trace.name']).toBe('manual-prompt-management');
    expect(otlp.spans.filter((s) => s.traceId === root!.traceId)).toHaveLength(11);
  });

  it('prompt-ab-test prints both arms and links each trace to its label version', async () => {
    const result = await scenario('prompt-ab-test');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('prod-a: answer\nprod-b: answer\n');
    const byName = new Map(roots(otlp.spans).map((r) => [r.attributes['langfuse.trace.name'], r]));
    for (const [label, user, version] of [
      ['prod-a', 'usr_prompt_ab_00', 1],
      ['prod-b', 'usr_prompt_ab_01', 2],
    ] as const) {
      const root = byName.get(`manual-prompt-ab-test-${label}`);
      expect(root?.attributes['langfuse.user.id']).toBe(user);
      expect(root?.attributes['langfuse.trace.tags']).toEqual(['order-status', 'prompt-management', 'prompt-ab-test', label]);
      const model = inTrace(otlp.spans, root!.traceId, 'openai.responses.create');
      expect(model.attributes['langfuse.observation.prompt.version']).toBe(version);
      expect(model.attributes['langfuse.observation.metadata.prompt_label']).toBe(label);
    }
  });

  it('prompt-cache-fallback serves the cached template after a TimeoutError and says so on the span', async () => {
    const result = await scenario('prompt-cache-fallback');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('warmup: langfuse answer\nfallback: cache answer\n');
    const byName = new Map(roots(otlp.spans).map((r) => [r.attributes['langfuse.trace.name'], r]));
    const warm = inTrace(otlp.spans, byName.get('manual-prompt-cache-warmup')!.traceId, 'workflow.node compose_answer');
    expect(warm.attributes['app.prompt.fetch.source']).toBe('langfuse');
    expect(warm.events.map((e) => e.name)).not.toContain('prompt.cache_fallback');

    const fallbackRoot = byName.get('manual-prompt-cache-fallback')!;
    expect(fallbackRoot.attributes['langfuse.trace.tags']).toEqual(['order-status', 'prompt-management', 'prompt-cache-fallback']);
    const compose = inTrace(otlp.spans, fallbackRoot.traceId, 'workflow.node compose_answer');
    expect(compose.attributes).toMatchObject({ 'app.prompt.fetch.source': 'cache', 'app.prompt.fetch.error_type': 'TimeoutError' });
    const event = compose.events.find((e) => e.name === 'prompt.cache_fallback');
    expect(event?.attributes).toEqual({ 'app.prompt.label': 'production', 'error.type': 'TimeoutError' });
    // The cached template still links the generation to its real version.
    expect(inTrace(otlp.spans, fallbackRoot.traceId, 'openai.responses.create').attributes['langfuse.observation.prompt.version']).toBe(1);
  });

  it('success prints `answer` under manual-success with the model-call tags and user', async () => {
    const result = await scenario('success');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n');
    const [root] = roots(otlp.spans);
    expect(root?.attributes).toMatchObject({
      'langfuse.trace.name': 'manual-success',
      'langfuse.user.id': 'usr_pseudo_model_demo',
      'langfuse.trace.tags': ['order-status', 'success', 'manual-scenario'],
    });
    expect(inTrace(otlp.spans, root!.traceId, 'openai.responses.create').attributes['gen_ai.response.id']).toMatch(/^resp_/);
  });

  it('retry: the first attempt times out (through the model seam), the second answers; the span says so', async () => {
    const result = await scenario('retry');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n');
    const [root] = roots(otlp.spans);
    expect(root?.attributes['langfuse.trace.name']).toBe('manual-retry');
    const model = inTrace(otlp.spans, root!.traceId, 'openai.responses.create');
    const retried = model.events.find((e) => e.name === 'model.retry');
    expect(retried?.attributes).toEqual({ 'app.retry.attempt': 1, 'app.retry.retryable': true, 'error.type': 'TimeoutError' });
    expect(model.attributes).toMatchObject({ 'app.retry.final_attempt': 2, 'langfuse.observation.level': 'WARNING', 'langfuse.observation.status_message': 'retried after TimeoutError' });
    // Only the successful attempt reached the provider.
    expect(openai.requests.filter((r) => r.path === '/v1/responses')).toHaveLength(1);
  });

  it('fallback: the primary stays rate limited, the fallback model answers', async () => {
    const result = await scenario('fallback');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n');
    const [root] = roots(otlp.spans);
    expect(root?.attributes['langfuse.trace.name']).toBe('manual-fallback');
    const model = inTrace(otlp.spans, root!.traceId, 'openai.responses.create');
    expect(model.events.find((e) => e.name === 'model.fallback')?.attributes).toMatchObject({
      'app.model.fallback.reason': 'rate_limit',
      'app.model.fallback.used': true,
      'error.type': 'RateLimitError',
    });
    expect(model.events.filter((e) => e.name === 'model.retry')).toHaveLength(3); // OPENAI_MAX_RETRIES=2: three attempts on the primary
    expect(model.attributes).toMatchObject({ 'app.model.fallback.used': true, 'app.model.fallback.reason': 'rate_limit', 'app.retry.final_attempt': 4 });
  });

  it('retry-classification prints the real retry policy and records it on the root span, without a model call', async () => {
    const result = await scenario('retry-classification');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('timeout: retryable\nrate_limit: retryable\ninsufficient_quota: not retryable\nserver_error: retryable\nbad_request: not retryable\n');
    expect(openai.requests).toHaveLength(0);
    const root = otlp.spans.find((s) => s.name === 'invoke_agent manual-retry-classification');
    expect(root?.parentSpanId ?? '').toBe('');
    expect(root?.attributes).toMatchObject({
      'langfuse.trace.name': 'manual-retry-classification',
      'langfuse.user.id': 'usr_pseudo_model_demo',
      'langfuse.trace.tags': ['order-status', 'retry-classification', 'manual-scenario'],
      'app.retryable.timeout': true,
      'app.retryable.rate_limit': true,
      'app.retryable.insufficient_quota': false,
      'app.retryable.server_error': true,
      'app.retryable.bad_request': false,
    });
  });

  it('stream prints `answer` and exports a streamed generation with its time to first token', async () => {
    const result = await scenario('stream');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n');
    const [root] = roots(otlp.spans);
    expect(root?.attributes).toMatchObject({
      'langfuse.trace.name': 'manual-stream',
      'langfuse.user.id': 'usr_pseudo_stream_demo',
      'langfuse.trace.tags': ['order-status', 'streaming', 'manual-scenario'],
    });
    const model = inTrace(otlp.spans, root!.traceId, 'openai.responses.stream');
    expect(model.attributes).toMatchObject({ 'gen_ai.request.stream': true, 'app.openai.stream.completed': true, 'langfuse.observation.prompt.version': 1 });
    expect(model.attributeTypes['langfuse.observation.prompt.version']).toBe('int');
    expect(model.attributes['langfuse.observation.completion_start_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(model.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
    expect(inTrace(otlp.spans, root!.traceId, 'workflow.stream updates').attributes['app.workflow.stream.completed']).toBe(true);
  });

  it('graph-updates-stream prints one sanitized update per line on the escalation path', async () => {
    const result = await scenario('graph-updates-stream');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        '{"retrieve_policy":{"policy_document_ids":["policy-eu-shipping-v14","policy-eu-escalation-v3"]}}',
        '{"read_memory":{"memory_record_types":["support_preference"]}}',
        '{"fetch_order":{"order_state":"missing"}}',
        '{"classify_outcome":{"outcome":"escalate"}}',
        '{"escalate":{"outcome":"escalated","escalation_reason":"missing_order_state"}}',
        '',
      ].join('\n'),
    );
    expect(openai.requests).toHaveLength(0);
    const [root] = roots(otlp.spans);
    expect(root?.attributes['langfuse.trace.name']).toBe('manual-graph-updates-stream');
    const streamSpan = inTrace(otlp.spans, root!.traceId, 'workflow.stream updates');
    expect(streamSpan.parentSpanId).toBe(root!.spanId);
    expect(streamSpan.attributes).toMatchObject({ 'app.workflow.stream.mode': 'updates', 'app.workflow.stream.event_count': 5, 'app.workflow.stream.completed': true });
    expect(inTrace(otlp.spans, root!.traceId, 'workflow.node escalate').parentSpanId).toBe(streamSpan.spanId);
  });

  it('all runs the eleven scenarios in the seed order', async () => {
    const result = await scenario('all');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').map((line) => line.replace(/trace_id=[0-9a-f]{32}/, 'trace_id=<hex>'));
    expect(lines).toEqual([
      'answer',
      'answer',
      '{"retrieve_policy":{"policy_document_ids":["policy-eu-shipping-v14","policy-eu-escalation-v3"]}}',
      '{"read_memory":{"memory_record_types":["support_preference"]}}',
      '{"fetch_order":{"order_state":"missing"}}',
      '{"classify_outcome":{"outcome":"escalate"}}',
      '{"escalate":{"outcome":"escalated","escalation_reason":"missing_order_state"}}',
      'answer',
      'answer',
      'timeout: retryable',
      'rate_limit: retryable',
      'insufficient_quota: not retryable',
      'server_error: retryable',
      'bad_request: not retryable',
      'answer',
      'score queued: user_feedback trace_id=<hex> environment=development',
      'answer',
      'signal recorded: repeated_question trace_id=<hex>',
      'answer',
      'prod-a: answer',
      'prod-b: answer',
      'warmup: langfuse answer',
      'fallback: cache answer',
      '',
    ]);
  }, 60_000);

  it('all stops at the first failure with a non-zero exit', async () => {
    openai.setFault({ status: 400 });
    try {
      const result = await scenario('all');
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('"scenario":"success"');
    } finally {
      openai.clearFaults();
    }
  });

  it('rejects an unknown scenario with usage and exit code 2', async () => {
    const result = await scenario('nope');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('prompt-management');
  });
});
