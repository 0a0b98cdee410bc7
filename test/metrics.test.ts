/**
 * The seven instruments of SPEC §13, read back through an in-memory metric
 * reader after real requests through the app (`inject`): names, kinds, units,
 * semconv bucket advice, attributes and values. Plus the cardinality rule.
 */
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { AnswerModel, ModelRequest, ModelResult } from '../src/model/answer-model.js';
import { PriceCatalog } from '../src/model/price-catalog.js';
import type { PromptSource } from '../src/prompts/prompt-source.js';
import { BUCKETS } from '../src/telemetry/metrics.js';
import { build } from './support/build.js';
import { histogramOf, sumOf, testMetrics } from './support/metrics.js';
import { testTracing } from './support/telemetry.js';

testTracing();

const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_metrics_01' };
const post = (payload: unknown) => ({
  method: 'POST' as const,
  url: '/order-status',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(payload),
});

/** A paid model (not offline) that reports fixed usage, like OpenAI does. */
function pricedModel(usage = { inputTokens: 1_000, outputTokens: 200, cachedInputTokens: 0 }): AnswerModel {
  return {
    api: 'responses',
    serverAddress: 'api.openai.com',
    offline: false,
    generate: (request: ModelRequest): Promise<ModelResult> =>
      Promise.resolve({ text: 'Your order is processing.', responseModel: `${request.model}-2024-07-18`, responseId: 'resp_metrics', usage }),
  };
}

/** A provider that answers 500 every time (an InternalServerError with a status, like the OpenAI SDK's). */
const failingModel: AnswerModel = {
  api: 'responses',
  serverAddress: 'api.openai.com',
  offline: false,
  generate: () => Promise.reject(Object.assign(new Error('upstream exploded'), { name: 'InternalServerError', status: 500 })),
};

const paidEnv = { OPENAI_API_KEY: 'sk-test-metrics-0000', OPENAI_MODEL: 'gpt-4o-mini', OPENAI_MAX_RETRIES: '0' };
const failingSource: PromptSource = { kind: 'langfuse', fetch: () => Promise.reject(Object.assign(new Error('down'), { name: 'TimeoutError' })) };

const model = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini' };

function expectDescriptor(metric: MetricData, unit: string, type: DataPointType): void {
  expect(metric.descriptor.unit).toBe(unit);
  expect(metric.dataPointType).toBe(type);
}

describe('metrics: the seven instruments (SPEC §13)', () => {
  it('http.server.request.duration: seconds, semconv buckets, method + route template + status, never the URL', async () => {
    const m = testMetrics();
    const { app } = await build({ metrics: m.metrics });
    expect((await app.inject(post(body))).statusCode).toBe(200);
    expect((await app.inject(post({ ...body, region: undefined }))).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/nope/usr_secret_42?x=1' })).statusCode).toBe(404);

    const http = await m.metric('http.server.request.duration');
    expectDescriptor(http, 's', DataPointType.HISTOGRAM);
    const ok = histogramOf(http, { 'http.request.method': 'POST', 'http.route': '/order-status', 'http.response.status_code': 200 });
    expect(ok.count).toBe(1);
    expect(ok.sum).toBeGreaterThan(0);
    expect(ok.buckets.boundaries).toEqual(BUCKETS.httpServerRequestDuration);
    expect(histogramOf(http, { 'http.request.method': 'POST', 'http.route': '/order-status', 'http.response.status_code': 400 }).count).toBe(1);
    expect(histogramOf(http, { 'http.request.method': 'GET', 'http.route': '/healthz', 'http.response.status_code': 200 }).count).toBe(1);
    // Unmatched: no http.route at all (the path is client input).
    expect(histogramOf(http, { 'http.request.method': 'GET', 'http.response.status_code': 404 }).count).toBe(1);
    expect(JSON.stringify(http.dataPoints.map((p) => p.attributes))).not.toContain('usr_secret_42');
  });

  it('gen_ai.client.operation.duration and gen_ai.client.token.usage: per model call, semconv buckets, error.type on failure', async () => {
    const m = testMetrics();
    const ok = await build({ metrics: m.metrics, model: pricedModel(), env: paidEnv });
    expect((await ok.app.inject(post(body))).statusCode).toBe(200);
    const failing = await build({ metrics: m.metrics, model: failingModel, env: paidEnv });
    expect((await failing.app.inject(post(body))).statusCode).toBe(502);

    const duration = await m.metric('gen_ai.client.operation.duration');
    expectDescriptor(duration, 's', DataPointType.HISTOGRAM);
    const success = histogramOf(duration, model);
    expect(success.count).toBe(1);
    expect(success.buckets.boundaries).toEqual(BUCKETS.genAiOperationDuration);
    expect(histogramOf(duration, { ...model, 'error.type': 'InternalServerError' }).count).toBe(1);

    const tokens = await m.metric('gen_ai.client.token.usage');
    expectDescriptor(tokens, '{token}', DataPointType.HISTOGRAM);
    const input = histogramOf(tokens, { ...model, 'gen_ai.token.type': 'input' });
    const output = histogramOf(tokens, { ...model, 'gen_ai.token.type': 'output' });
    expect([input.count, input.sum]).toEqual([1, 1_000]);
    expect([output.count, output.sum]).toEqual([1, 200]);
    expect(input.buckets.boundaries).toEqual(BUCKETS.genAiTokenUsage);
    // A failed call reported no usage: no token points for it.
    expect(tokens.dataPoints).toHaveLength(2);
  });

  it('app.agent.runs counts runs by outcome (answer, escalated, error)', async () => {
    const m = testMetrics();
    const { app } = await build({ metrics: m.metrics });
    await app.inject(post(body));
    await app.inject(post(body));
    await app.inject(post({ ...body, order_reference: 'ORDER-404' }));
    const failing = await build({ metrics: m.metrics, model: failingModel, env: paidEnv });
    await failing.app.inject(post(body));

    const runs = await m.metric('app.agent.runs');
    expectDescriptor(runs, '', DataPointType.SUM);
    expect(sumOf(runs, { 'app.task.outcome': 'answer' })).toBe(2);
    expect(sumOf(runs, { 'app.task.outcome': 'escalated' })).toBe(1);
    expect(sumOf(runs, { 'app.task.outcome': 'error' })).toBe(1);
  });

  it('app.prompt.resolutions: label, version and fetch source, including failing closed', async () => {
    const m = testMetrics();
    const { app } = await build({ metrics: m.metrics });
    await app.inject(post(body));
    const down = await build({ metrics: m.metrics, promptSource: failingSource, warm: false });
    expect((await down.app.inject(post(body))).statusCode).toBe(503);

    const resolutions = await m.metric('app.prompt.resolutions');
    expectDescriptor(resolutions, '', DataPointType.SUM);
    expect(sumOf(resolutions, { 'app.prompt.label': 'production', 'app.prompt.version': 1, 'app.prompt.fetch.source': 'local' })).toBe(1);
    expect(sumOf(resolutions, { 'app.prompt.label': 'production', 'app.prompt.fetch.source': 'unavailable' })).toBe(1);
  });

  it('app.llm.cost: USD from the catalog, by model and prompt version', async () => {
    const m = testMetrics();
    const { app } = await build({ metrics: m.metrics, model: pricedModel(), env: paidEnv });
    await app.inject(post(body));
    await app.inject(post(body));

    const cost = await m.metric('app.llm.cost');
    expectDescriptor(cost, 'USD', DataPointType.SUM);
    // gpt-4o-mini: 1,000 input x $0.15/M + 200 output x $0.60/M = $0.00027 a call
    expect(sumOf(cost, { 'gen_ai.request.model': 'gpt-4o-mini', 'app.prompt.version': 1 })).toBeCloseTo(2 * 0.00027, 12);
    const catalog = PriceCatalog.load('config/model-prices.json');
    expect(catalog.price(['gpt-4o-mini'], { inputTokens: 1_000, outputTokens: 200 })?.total).toBe(0.00027);
  });

  it('app.feedback.scores: every score the service produces, through POST /feedback and the answer checks', async () => {
    const m = testMetrics();
    const { app } = await build({ metrics: m.metrics });
    const answered = (await app.inject(post(body))).json() as { interaction_id: string };
    for (const value of ['negative', 'negative']) {
      const res = await app.inject({
        method: 'POST',
        url: '/feedback',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ interaction_id: answered.interaction_id, user_id: body.user_id, value }),
      });
      expect(res.statusCode).toBe(202);
    }
    const scores = await m.metric('app.feedback.scores');
    // Counted in local mode too (not sent to Langfuse, still a vote).
    expect(sumOf(scores, { 'score.name': 'user_feedback', 'score.value': 'negative' })).toBe(2);
    expect(sumOf(scores, { 'score.name': 'answer_correctness', 'score.value': '1' })).toBe(1);
    expect(sumOf(scores, { 'score.name': 'policy_compliance', 'score.value': 'pass' })).toBe(1);
  });

  it('app.feedback.scores: by score name and value (the score sink records here)', async () => {
    const m = testMetrics();
    m.metrics.recordFeedbackScore('user_feedback', 'negative');
    m.metrics.recordFeedbackScore('user_feedback', 'negative');
    m.metrics.recordFeedbackScore('user_feedback', 'positive');
    m.metrics.recordFeedbackScore('answer_correctness', 1);
    // Free text and continuous numbers never become label values.
    m.metrics.recordFeedbackScore('user_feedback', 'the bot lied about my order #123');
    m.metrics.recordFeedbackScore('relevance', 0.7321);
    m.metrics.recordFeedbackScore('relevance', 1234567);

    const scores = await m.metric('app.feedback.scores');
    expectDescriptor(scores, '', DataPointType.SUM);
    expect(sumOf(scores, { 'score.name': 'user_feedback', 'score.value': 'negative' })).toBe(2);
    expect(sumOf(scores, { 'score.name': 'user_feedback', 'score.value': 'positive' })).toBe(1);
    expect(sumOf(scores, { 'score.name': 'answer_correctness', 'score.value': '1' })).toBe(1);
    expect(sumOf(scores, { 'score.name': 'user_feedback', 'score.value': 'other' })).toBe(1);
    expect(sumOf(scores, { 'score.name': 'relevance', 'score.value': 'other' })).toBe(2);
  });
});

/** Each instrument's attribute keys, exactly as SPEC §13 lists them. */
const ALLOWED_KEYS: Record<string, readonly string[]> = {
  'gen_ai.client.operation.duration': ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model', 'error.type'],
  'gen_ai.client.token.usage': ['gen_ai.token.type', 'gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model'],
  'http.server.request.duration': ['http.request.method', 'http.route', 'http.response.status_code'],
  'app.agent.runs': ['app.task.outcome'],
  'app.prompt.resolutions': ['app.prompt.label', 'app.prompt.version', 'app.prompt.fetch.source'],
  'app.llm.cost': ['gen_ai.request.model', 'app.prompt.version'],
  'app.feedback.scores': ['score.name', 'score.value'],
};

/** What ids and user content look like in this service (and W3C / OpenAI ids in general). */
const ID_SHAPES: [string, RegExp][] = [
  ['user id', /usr_/i],
  ['conversation id', /conv_/i],
  ['order reference', /ORDER-\d/i],
  ['hex id (trace/span/interaction)', /[0-9a-f]{16,}/i],
  ['uuid', /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i],
  ['provider response id', /^(resp|chatcmpl|offline)_/],
  ['long digit run', /\d{5,}/],
  ['whitespace (free text)', /\s/],
  ['e-mail', /@/],
];

describe('metrics: cardinality and privacy', () => {
  it('no attribute value looks like an id or carries user content, after traffic full of both', async () => {
    const m = testMetrics();
    const canary = 'CANARY where is parcel 7';
    const services = [
      await build({ metrics: m.metrics }),
      await build({ metrics: m.metrics, model: pricedModel(), env: paidEnv }),
      await build({ metrics: m.metrics, model: failingModel, env: paidEnv }),
      await build({ metrics: m.metrics, promptSource: failingSource, warm: false }),
    ];
    for (const [i, { app }] of services.entries()) {
      for (const order of ['ORDER-924', 'ORDER-404', 'ORDER-7001']) {
        const user = `usr_cardinality_${i}`;
        const res = await app.inject(post({ query: `${canary} ${i}`, order_reference: order, region: 'eu', user_id: user, conversation_id: `conv_${'ab'.repeat(16)}` }));
        const interaction = (res.json() as { interaction_id?: string }).interaction_id;
        if (!interaction) continue;
        // Feedback and signals: interaction ids, user ids and trace ids all travel with them.
        const json = (payload: unknown) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
        expect((await app.inject({ url: '/feedback', ...json({ interaction_id: interaction, user_id: user, value: 'negative' }) })).statusCode).toBe(202);
        expect((await app.inject({ url: '/signals', ...json({ interaction_id: interaction, user_id: user, signal: 'conversation_abandoned' }) })).statusCode).toBe(202);
      }
      await app.inject(post({ ...body, query: 42 }));
      await app.inject({ method: 'GET', url: `/order-status/usr_cardinality_${i}` });
      await app.inject({ method: 'GET', url: `/order-status/usr_cardinality_${i}?q=${encodeURIComponent(canary)}` });
    }
    m.metrics.recordFeedbackScore('user_feedback', `${canary} usr_cardinality_0`);

    const all = await m.collect();
    expect(all.map((x) => x.descriptor.name).sort()).toEqual(Object.keys(ALLOWED_KEYS).sort());
    const problems: string[] = [];
    for (const metric of all) {
      const allowed = ALLOWED_KEYS[metric.descriptor.name] ?? [];
      for (const p of metric.dataPoints) {
        for (const [key, value] of Object.entries(p.attributes)) {
          if (!allowed.includes(key)) problems.push(`${metric.descriptor.name}: unexpected attribute ${key}`);
          const text = String(value);
          if (text.toLowerCase().includes('canary') || text.includes('parcel')) problems.push(`${metric.descriptor.name}.${key}: user content ${text}`);
          for (const [what, shape] of ID_SHAPES) if (shape.test(text)) problems.push(`${metric.descriptor.name}.${key}=${text} looks like a ${what}`);
          if (text.length > 64) problems.push(`${metric.descriptor.name}.${key}: ${text.length} characters`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
