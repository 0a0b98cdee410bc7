import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { build } from './support/build.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { spanNamed, testTracing } from './support/telemetry.js';

/** The real @langfuse/client and @langchain/openai clients, talking to local protocol stand-ins. */
const tracing = testTracing();
let langfuse: LangfusePromptStandIn;
let openai: OpenAIStandIn;

beforeAll(async () => {
  langfuse = await startSeededLangfuse('pk-lf-test', 'sk-lf-test');
  openai = await startOpenAIStandIn({ apiKey: 'sk-test', answer: () => 'Your order is being processed.' });
});
afterAll(async () => {
  await langfuse.close();
  await openai.close();
});
beforeEach(() => {
  tracing.reset();
  openai.clearRequests();
  openai.clearFaults();
  langfuse.setFault(null);
});

const env = (overrides: Record<string, string> = {}) => ({
  LANGFUSE_PUBLIC_KEY: 'pk-lf-test',
  LANGFUSE_SECRET_KEY: 'sk-lf-test',
  LANGFUSE_BASE_URL: langfuse.baseUrl,
  OPENAI_API_KEY: 'sk-test',
  OPENAI_BASE_URL: openai.baseURL,
  OPENAI_MODEL: 'gpt-4o-mini',
  OPENAI_TIMEOUT_MS: '2000',
  PROMPT_FETCH_TIMEOUT_MS: '500',
  ...overrides,
});
const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_provider_01' };
const post = (payload: unknown = body) => ({ method: 'POST' as const, url: '/order-status', payload: payload as object });

describe('with Langfuse and OpenAI configured', () => {
  it('sends the compiled managed prompt to the Responses API with store=false and links the generation', async () => {
    const { app } = await build({ env: env() });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'answer', answer: 'Your order is being processed.', prompt: { version: 1, label: 'production', source: 'langfuse' } });

    const request = openai.requests.find((r) => r.path === '/v1/responses');
    const sent = request?.body as { store?: boolean; model?: string; input?: { role: string; content: unknown }[]; temperature?: number };
    expect(sent.store).toBe(false);
    expect(sent.model).toBe('gpt-4o-mini');
    expect(sent.temperature).toBe(0.2);
    expect(JSON.stringify(sent.input)).toContain(
      'Question: Where is my order?\\nRegion: eu\\nOrder state: processing\\nPolicy document IDs: policy-eu-shipping-v14, policy-eu-escalation-v3\\nMemory categories: support_preference',
    );
    expect(JSON.stringify(sent.input)).toContain('You are a support assistant.');

    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'langfuse.observation.type': 'generation',
      'langfuse.observation.prompt.name': 'order-status-answer',
      'langfuse.observation.prompt.version': 1,
      'langfuse.observation.metadata.prompt_label': 'production',
      'app.openai.store': false,
      'server.address': '127.0.0.1',
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.max_tokens': 300,
    });
    expect(Number.isInteger(span.attributes['langfuse.observation.prompt.version'])).toBe(true);
    expect(span.attributes['gen_ai.response.id']).toMatch(/^resp_/);
    expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(span.attributes).not.toHaveProperty('model');
  });

  it('uses Chat Completions when OPENAI_API=chat_completions', async () => {
    const { app } = await build({ env: env({ OPENAI_API: 'chat_completions' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    const request = openai.requests.find((r) => r.path === '/v1/chat/completions');
    const messages = (request?.body as { messages: { role: string; content: string }[] }).messages;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[1]?.content).toContain('Order state: processing');
    const span = spanNamed(tracing.spans(), 'openai.chat.completions.create');
    expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(span.attributes).not.toHaveProperty('app.openai.store');
  });

  it.each(['node-http', 'fetch'])('answers through either HTTP client under the SDK (OPENAI_HTTP_CLIENT=%s)', async (client) => {
    const { app } = await build({ env: env({ OPENAI_HTTP_CLIENT: client }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    expect(res.json().answer).toBe('Your order is being processed.');
    expect(openai.requests.find((r) => r.path === '/v1/responses')?.headers.authorization).toBe('Bearer sk-test');
  });

  it('pulls the A/B label version: prod-b is version 2', async () => {
    const { app } = await build({ env: env({ PROMPT_EXPERIMENT: 'prod-a=1,prod-b=1' }) });
    const a = await app.inject(post({ ...body, user_id: 'usr_prompt_ab_00' }));
    const b = await app.inject(post({ ...body, user_id: 'usr_prompt_ab_01' }));
    expect(a.json().prompt).toMatchObject({ label: 'prod-a', version: 1 });
    expect(b.json().prompt).toMatchObject({ label: 'prod-b', version: 2 });
  });

  it('fails closed with 503 for a label Langfuse does not have, never using latest', async () => {
    const { app } = await build({ env: env({ PROMPT_EXPERIMENT: 'staging=1' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'prompt_unavailable', label: 'staging' });
    expect(openai.requests).toHaveLength(0);
    expect(langfuse.requests.some((r) => r.query.label === 'latest')).toBe(false);
    expect(spanNamed(tracing.spans(), 'workflow.node compose_answer').attributes['app.prompt.fetch.error_type']).toBe('PromptNotFoundError');
  });

  it('retries a 429 after its retry-after and records the retry on the model span', async () => {
    openai.queueFault({ status: 429, headers: { 'retry-after-ms': '50' } });
    const { app } = await build({ env: env() });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes['app.retry.final_attempt']).toBe(2);
    expect(span.events.map((e) => e.name)).toEqual(['model.retry']);
  });

  it('maps a model that keeps failing to a 502 JSON error with the error recorded', async () => {
    openai.setFault({ status: 500 });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '1' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(502);
    expect(res.json().error.code).toBe('model_unavailable');
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.status.code).toBe(2);
    expect(span.attributes['error.type']).toBeDefined();
    expect(span.events.filter((e) => e.name === 'exception')).toHaveLength(1);
  });

  it('maps a hung model to a 504 within the attempt timeout', async () => {
    openai.setFault('hang');
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '0', OPENAI_TIMEOUT_MS: '300' }) });
    const started = Date.now();
    const res = await app.inject(post());
    expect(res.statusCode).toBe(504);
    expect(res.json().error.code).toBe('model_timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
