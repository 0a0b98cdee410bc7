import { SpanKind } from '@opentelemetry/api';
import { beforeEach, describe, expect, it } from 'vitest';
import { LocalPromptSource } from '../src/prompts/local-prompt-source.js';
import type { PromptSource } from '../src/prompts/prompt-source.js';
import { build } from './support/build.js';
import { recordingModel } from './support/models.js';
import { parentId, spanNamed, testTracing } from './support/telemetry.js';

const tracing = testTracing();
beforeEach(() => tracing.reset());

const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_http_01' };
const post = (payload: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/order-status',
  headers: { 'content-type': 'application/json', ...headers },
  payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
});


const failingSource = (error: Error): PromptSource => ({ kind: 'langfuse', fetch: () => Promise.reject(error) });

describe('POST /order-status', () => {
  it('answers with outcome, answer, session id, W3C trace id and prompt identity', async () => {
    const { app } = await build();
    const res = await app.inject(post(body));
    expect(res.statusCode).toBe(200);
    const json = res.json();
    expect(json).toMatchObject({ outcome: 'answer', prompt: { name: 'order-status-answer', version: 1, label: 'production', source: 'local' } });
    expect(json.answer).toContain('processing');
    expect(json.conversation_id).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(json.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('runs the agent inside the HTTP server span, which carries the Langfuse trace context', async () => {
    const { app } = await build();
    const res = await app.inject(post({ ...body, conversation_id: 'conv_http_session' }));
    const spans = tracing.spans();
    const http = spanNamed(spans, 'POST /order-status');
    const root = spanNamed(spans, 'invoke_agent order-status');
    expect(http.kind).toBe(SpanKind.SERVER);
    expect(parentId(root)).toBe(http.spanContext().spanId);
    expect(res.json().trace_id).toBe(http.spanContext().traceId);
    for (const span of [http, root, spanNamed(spans, 'openai.responses.create')]) {
      expect(span.attributes).toMatchObject({
        'langfuse.session.id': 'conv_http_session',
        'langfuse.user.id': 'usr_http_01',
        'langfuse.trace.name': 'order-status-turn',
        'langfuse.version': '0.1.0',
        'langfuse.trace.metadata.environment': 'development',
        'langfuse.trace.metadata.workflow': 'order-status',
        'langfuse.trace.metadata.region': 'eu',
      });
      expect(span.attributes['langfuse.trace.tags']).toEqual(['order-status', 'http', 'production']);
    }
  });

  it('continues an incoming traceparent', async () => {
    const { app } = await build();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await app.inject(post(body, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }));
    expect(res.json().trace_id).toBe(traceId);
    const http = spanNamed(tracing.spans(), 'POST /order-status');
    expect(http.spanContext().traceId).toBe(traceId);
    expect(parentId(http)).toBe('00f067aa0ba902b7');
  });

  it.each([
    ['missing field', { ...body, region: undefined }, 'region'],
    ['wrong type', { ...body, query: 42 }, 'query'],
    ['empty query', { ...body, query: '   ' }, 'query'],
    ['bad order reference', { ...body, order_reference: 'DROP TABLE' }, 'order_reference'],
    ['unknown field', { ...body, admin: true }, 'admin'],
    ['client-chosen label', { ...body, prompt_label: 'latest' }, 'prompt_label'],
    ['email as user id', { ...body, user_id: 'a@b.example' }, 'user_id'],
  ])('refuses %s with a 400 naming the field', async (_case, payload, field) => {
    const { app } = await build();
    const res = await app.inject(post(payload));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field });
    expect(res.json().error.message).toContain(field);
  });

  it('refuses malformed JSON, wrong content type and oversized bodies with 4xx', async () => {
    const { app } = await build();
    expect((await app.inject(post('{"query":'))).statusCode).toBe(400);
    expect((await app.inject(post('{"query":')).then((r) => r.json().error.code))).toBe('invalid_json');
    expect((await app.inject({ ...post(body), headers: { 'content-type': 'text/plain' } })).statusCode).toBe(415);
    expect((await app.inject(post({ ...body, query: 'x'.repeat(20_000) }))).statusCode).toBe(413);
  });

  it('treats prompt-template syntax in user input as plain text', async () => {
    const { calls, model } = recordingModel();
    const { app } = await build({ model });
    const res = await app.inject(post({ ...body, query: 'Show {{order_state}} and {{#region}}x{{/region}}' }));
    expect(res.statusCode).toBe(200);
    expect(calls[0]?.messages.at(-1)?.content).toContain('Question: Show {{order_state}} and {{#region}}x{{/region}}');
  });
});

describe('prompt failures', () => {
  it('answers 503 prompt_unavailable, without calling the model, when no prompt can be fetched', async () => {
    const { calls, model } = recordingModel();
    const { app } = await build({ model, promptSource: failingSource(new Error('connect ECONNREFUSED')), env: { LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk' } });
    const res = await app.inject(post(body));
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'prompt_unavailable', label: 'production' });
    expect(res.headers['retry-after']).toBeDefined();
    expect(calls).toHaveLength(0);
    const compose = spanNamed(tracing.spans(), 'workflow.node compose_answer');
    expect(compose.attributes['app.prompt.fetch.source']).toBe('unavailable');
  });

  it('answers 500 prompt_variables_mismatch before any model call when the template breaks the contract', async () => {
    const { calls, model } = recordingModel();
    const broken = new LocalPromptSource({
      name: 'order-status-answer',
      type: 'chat',
      versions: [{ version: 7, labels: ['production'], prompt: [{ role: 'user', content: 'Q: {{query}} tier: {{customer_tier}}' }] }],
    });
    const { app } = await build({ model, promptSource: broken });
    const res = await app.inject(post(body));
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('prompt_variables_mismatch');
    expect(calls).toHaveLength(0);
    const compose = spanNamed(tracing.spans(), 'workflow.node compose_answer');
    expect(compose.attributes['app.prompt.validation']).toBe('failed');
    expect(compose.attributes['app.prompt.validation.missing_variables']).toEqual(['customer_tier']);
    expect(compose.attributes['error.type']).toBe('PromptVariablesMismatchError');
  });
});

describe('probes, docs and auth', () => {
  it('healthz is always up; readyz waits for the production prompt', async () => {
    const { app } = await build({ promptSource: failingSource(new Error('down')), warm: true, env: { LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk' } });
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error.code).toBe('not_ready');
    const ready = await build();
    expect((await ready.app.inject('/readyz')).statusCode).toBe(200);
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const { app } = await build();
    const doc = (await app.inject('/docs/json')).json();
    const schema = doc.paths['/order-status'].post.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['query', 'order_reference', 'region', 'user_id']));
    expect((await app.inject('/docs')).statusCode).toBeLessThan(400);
  });

  it('requires a valid bearer key when SERVICE_API_KEYS is set', async () => {
    const key = 'k'.repeat(32);
    const { app } = await build({ env: { SERVICE_API_KEYS: `${key},${'z'.repeat(24)}` } });
    const missing = await app.inject(post(body));
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('unauthorized');
    expect((await app.inject(post(body, { authorization: 'Bearer wrong-key-wrong-key' }))).statusCode).toBe(401);
    expect((await app.inject(post(body, { authorization: `Bearer ${key}` }))).statusCode).toBe(200);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });
});
