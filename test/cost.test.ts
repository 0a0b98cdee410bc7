/**
 * Cost (SPEC §13, book ch 11): the price catalog's arithmetic, the cost keys on
 * the model span as Langfuse reads them, and a model missing from the catalog.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/settings.js';
import type { AnswerModel, ModelRequest } from '../src/model/answer-model.js';
import { callModel, type ModelCallDeps } from '../src/model/model-call.js';
import { ModelCallRecorder } from '../src/model/model-call-outcome.js';
import { PriceCatalog } from '../src/model/price-catalog.js';
import { build } from './support/build.js';
import { testMetrics } from './support/metrics.js';
import { runNodeScript } from './support/processes.js';
import { spanNamed, testTracing } from './support/telemetry.js';

const tracing = testTracing();
const catalog = PriceCatalog.load('config/model-prices.json');

function usageModel(usage: { inputTokens: number; outputTokens: number; cachedInputTokens?: number }): AnswerModel {
  return {
    api: 'responses',
    serverAddress: 'api.openai.com',
    offline: false,
    generate: (request: ModelRequest) => Promise.resolve({ text: 'ok', responseModel: request.model, responseId: 'resp_cost', usage }),
  };
}

describe('price catalog (config/model-prices.json)', () => {
  it('ships a catalog_version and prices the default model and the common OpenAI models', () => {
    const file = JSON.parse(readFileSync('config/model-prices.json', 'utf8')) as { catalog_version: string; models: Record<string, unknown> };
    expect(file.catalog_version).toMatch(/^openai-.+-\d{4}-\d{2}-\d{2}$/);
    for (const model of ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-5', 'gpt-5-mini', 'o4-mini']) {
      expect(catalog.lookup(model), model).toBeDefined();
    }
  });

  it.each([
    // model, input, cached, output → input USD, output USD, total USD (prices per 1M tokens)
    ['gpt-4o-mini', 1_000, 0, 200, 0.00015, 0.00012, 0.00027],
    ['gpt-4o-mini', 1_000, 400, 200, 0.00012, 0.00012, 0.00024], // 600 x 0.15 + 400 x 0.075
    ['gpt-4o', 2_000, 0, 500, 0.005, 0.005, 0.01],
    ['gpt-4.1-nano', 1, 0, 1, 0.0000001, 0.0000004, 0.0000005],
    ['gpt-3.5-turbo', 1_000, 1_000, 0, 0.0005, 0, 0.0005], // no cached price: cached tokens at the input price
    ['offline', 5_000, 0, 5_000, 0, 0, 0],
  ])('%s: %i input (%i cached) + %i output tokens', (model, inputTokens, cachedInputTokens, outputTokens, input, output, total) => {
    const cost = catalog.price([model], { inputTokens, outputTokens, cachedInputTokens });
    expect(cost).toMatchObject({ input, output, total, currency: 'USD', catalogVersion: catalog.version, pricedAs: model });
  });

  it('prices a dated snapshot as its model, and tries the response model when the request model is unknown', () => {
    expect(catalog.price(['gpt-4o-mini-2024-07-18'], { inputTokens: 1_000, outputTokens: 0 })?.pricedAs).toBe('gpt-4o-mini');
    expect(catalog.price(['my-deployment', 'gpt-4o-2024-08-06'], { inputTokens: 1_000, outputTokens: 0 })).toMatchObject({ pricedAs: 'gpt-4o', total: 0.0025 });
    expect(catalog.price(['my-finetune'], { inputTokens: 1_000, outputTokens: 0 })).toBeUndefined();
  });

  it.each([
    ['no catalog_version', { currency: 'USD', unit: 'USD per 1M tokens', models: { a: { input: 1, output: 1 } } }, 'catalog_version'],
    ['a negative price', { catalog_version: 'v1', currency: 'USD', unit: 'USD per 1M tokens', models: { a: { input: -1, output: 1 } } }, 'models.a.input'],
    ['another currency', { catalog_version: 'v1', currency: 'EUR', unit: 'USD per 1M tokens', models: { a: { input: 1, output: 1 } } }, 'currency'],
    ['a misspelt price key', { catalog_version: 'v1', currency: 'USD', unit: 'USD per 1M tokens', models: { a: { input: 1, outptu: 1 } } }, 'models.a'],
    ['not JSON', 'prices: cheap', 'cannot read'],
  ])('refuses a catalog with %s, naming MODEL_PRICES_FILE', (_case, content, problem) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prices-'));
    try {
      const file = path.join(dir, 'prices.json');
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      expect(() => PriceCatalog.load(file)).toThrow(ConfigError);
      expect(() => PriceCatalog.load(file)).toThrow(/MODEL_PRICES_FILE/);
      expect(() => PriceCatalog.load(file)).toThrow(problem);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops start-up (exit 78) when MODEL_PRICES_FILE is missing, naming the variable', { timeout: 60_000 }, async () => {
    const result = await runNodeScript('src/server.ts', [], { MODEL_PRICES_FILE: '/nonexistent/prices.json', OTEL_SDK_DISABLED: 'true', PORT: '0', LOG_LEVEL: 'warn' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('MODEL_PRICES_FILE');
  });
});

describe('cost on the model span', () => {
  it('carries app.cost.* and Langfuse cost_details (a JSON string) from the catalog', async () => {
    tracing.reset();
    const { app } = await build({
      model: usageModel({ inputTokens: 1_000, outputTokens: 200 }),
      env: { OPENAI_API_KEY: 'sk-test-cost-00000000', OPENAI_MODEL: 'gpt-4o-mini' },
    });
    const res = await app.inject({
      method: 'POST',
      url: '/order-status',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_cost_01' }),
    });
    expect(res.statusCode).toBe(200);
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes).toMatchObject({
      'app.cost.amount': 0.00027,
      'app.cost.currency': 'USD',
      'app.cost.catalog_version': catalog.version,
      'gen_ai.usage.input_tokens': 1_000,
      'gen_ai.usage.output_tokens': 200,
    });
    const details = span.attributes['langfuse.observation.cost_details'];
    expect(typeof details).toBe('string');
    expect(JSON.parse(details as string)).toEqual({ input: 0.00015, output: 0.00012, total: 0.00027 });
  });

  it('a model missing from the catalog records no cost and says so once in the log', async () => {
    tracing.reset();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const m = testMetrics();
    const deps: ModelCallDeps = {
      tracer: tracing.tracer,
      model: usageModel({ inputTokens: 100, outputTokens: 10 }),
      recorder: new ModelCallRecorder({ metrics: m.metrics, prices: catalog, logger }),
      retry: { maxRetries: 0, attemptTimeoutMs: 1_000, requestTimeoutMs: 1_000, baseDelayMs: 1, maxDelayMs: 1 },
    };
    for (let i = 0; i < 3; i += 1) await callModel(deps, { messages: [{ role: 'user', content: 'hi' }], model: 'my-finetune' });

    const spans = tracing.spans().filter((s) => s.name === 'openai.responses.create');
    expect(spans).toHaveLength(3);
    for (const span of spans) {
      expect(Object.keys(span.attributes).filter((k) => k.startsWith('app.cost.') || k === 'langfuse.observation.cost_details')).toEqual([]);
    }
    const names = (await m.collect()).map((x) => x.descriptor.name);
    expect(names).not.toContain('app.llm.cost');
    expect(names).toContain('gen_ai.client.token.usage'); // usage is still counted
    const warnings = lines.filter((l) => l.includes('my-finetune'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ level: 40, model: 'my-finetune', catalogVersion: catalog.version });
  });
});
