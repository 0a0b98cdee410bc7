/**
 * Exercises the local stand-ins (test/support) through the REAL client libraries:
 *  - Langfuse prompt API  ← @langfuse/client LangfuseClient
 *  - OpenAI API           ← @langchain/openai ChatOpenAI (Responses + Chat Completions)
 *  - OTLP/HTTP receiver   ← @opentelemetry/exporter-trace-otlp-http (JSON) + protobuf/gzip via otlp-transformer
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LangfuseClient } from '@langfuse/client';
import { LangfuseAPIError, LangfuseAPITimeoutError, LogLevel, NotFoundError, configureGlobalLogger } from '@langfuse/core';
import { ChatOpenAI } from '@langchain/openai';
import { AIMessageChunk, HumanMessage, SystemMessage, type UsageMetadata } from '@langchain/core/messages';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { startLangfusePromptStandIn, type LangfusePromptSeed } from './support/langfuse-prompt-stand-in.js';
import { startOpenAIStandIn } from './support/openai-stand-in.js';
import { decodeTraceExport, startOtlpReceiver } from './support/otlp-receiver.js';

const cleanups: (() => Promise<void>)[] = [];
/** Register something to close after the current test. */
function later<T extends { close(): Promise<void> }>(h: T): T {
  cleanups.push(() => h.close());
  return h;
}
afterEach(async () => {
  const fns = cleanups.splice(0).reverse();
  for (const fn of fns) await fn();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected promise to reject');
}

// ---------------------------------------------------------------------------
// Langfuse
// ---------------------------------------------------------------------------

const SEED: LangfusePromptSeed[] = [
  {
    name: 'order-agent/system',
    type: 'chat',
    prompt: [
      { role: 'system', content: 'You are the order assistant for {{shop}}.' },
      { role: 'user', content: 'Order {{orderId}}?' },
    ],
    config: { model: 'gpt-4o-mini', temperature: 0 },
    labels: ['production'],
    tags: ['agent'],
    commitMessage: 'initial',
  },
  {
    name: 'order-agent/system',
    type: 'chat',
    prompt: [{ role: 'system', content: 'v2 for {{shop}}' }],
    config: { model: 'gpt-4o-mini', temperature: 0.2 },
    labels: ['staging'],
  },
];

describe('langfuse prompt stand-in', () => {
  // the SDK logs every failed fetch at ERROR; keep the test output readable
  configureGlobalLogger({ level: LogLevel.NONE });
  const client = (baseUrl: string, secretKey = 'sk-lf-stand-in'): LangfuseClient =>
    new LangfuseClient({ publicKey: 'pk-lf-stand-in', secretKey, baseUrl });

  it('serves prompts by label to the real client, and compile() works', async () => {
    const lf = later(await startLangfusePromptStandIn({ prompts: SEED }));
    const langfuse = client(lf.baseUrl);

    const prod = await langfuse.prompt.get('order-agent/system', { type: 'chat', cacheTtlSeconds: 0 });
    expect(prod.version).toBe(1);
    expect(prod.labels).toEqual(['production']);
    expect(prod.config).toEqual({ model: 'gpt-4o-mini', temperature: 0 });
    expect(prod.compile({ shop: 'ACME', orderId: 'A-1' })).toEqual([
      { role: 'system', content: 'You are the order assistant for ACME.' },
      { role: 'user', content: 'Order A-1?' },
    ]);

    const staging = await langfuse.prompt.get('order-agent/system', { label: 'staging', type: 'chat', cacheTtlSeconds: 0 });
    expect(staging.version).toBe(2);
    expect(staging.labels.sort()).toEqual(['latest', 'staging']);
    expect(staging.tags).toEqual(['agent']); // tags carried over from previous version
    expect(staging.compile({ shop: 'X' })).toEqual([{ role: 'system', content: 'v2 for X' }]);

    const v1 = await langfuse.prompt.get('order-agent/system', { version: 1, type: 'chat', cacheTtlSeconds: 0 });
    expect(v1.commitMessage).toBe('initial');

    expect(lf.promptFetches()).toBe(3);
    expect(lf.promptFetches('production')).toBe(1);
    expect(lf.promptFetches('staging', 'order-agent/system')).toBe(1);
    // name is URL-encoded on the wire
    expect(lf.requests[0]?.path).toBe('/api/public/v2/prompts/order-agent%2Fsystem');
    expect(lf.requests[0]?.status).toBe(200);

    // raw body shape
    const raw = (await (
      await fetch(`${lf.baseUrl}/api/public/v2/prompts/order-agent%2Fsystem`, {
        headers: { authorization: 'Basic ' + Buffer.from('pk-lf-stand-in:sk-lf-stand-in').toString('base64') },
      })
    ).json()) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(
      ['commitMessage', 'config', 'createdAt', 'createdBy', 'id', 'isActive', 'labels', 'name', 'projectId', 'prompt', 'resolutionGraph', 'tags', 'type', 'updatedAt', 'version'].sort(),
    );
  });

  it('404 for a missing label / version with the exact Langfuse body; 400 for label+version; 401 for bad keys', async () => {
    const lf = later(await startLangfusePromptStandIn({ prompts: SEED }));
    const langfuse = client(lf.baseUrl);

    const err = await rejection(langfuse.prompt.get('order-agent/system', { label: 'nope', type: 'chat', cacheTtlSeconds: 0, maxRetries: 0 }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(LangfuseAPIError);
    const nf = err as NotFoundError;
    expect(nf.statusCode).toBe(404);
    expect(nf.body).toEqual({ message: "Prompt not found: 'order-agent/system' with label 'nope'", error: 'LangfuseNotFoundError' });
    expect(nf.message.split('\n')[0]).toBe('NotFoundError');

    const auth = { authorization: 'Basic ' + Buffer.from('pk-lf-stand-in:sk-lf-stand-in').toString('base64') };
    const r404 = await fetch(`${lf.baseUrl}/api/public/v2/prompts/missing?label=production`, { headers: auth });
    expect(r404.status).toBe(404);
    expect(await r404.text()).toBe(`{"message":"Prompt not found: 'missing' with label 'production'","error":"LangfuseNotFoundError"}`);
    const rv = await fetch(`${lf.baseUrl}/api/public/v2/prompts/missing?version=7`, { headers: auth });
    expect(await rv.json()).toEqual({ message: "Prompt not found: 'missing' with version 7", error: 'LangfuseNotFoundError' });
    const both = await fetch(`${lf.baseUrl}/api/public/v2/prompts/order-agent%2Fsystem?version=1&label=production`, { headers: auth });
    expect(both.status).toBe(400);

    const unauth = await rejection(client(lf.baseUrl, 'wrong').prompt.get('order-agent/system', { cacheTtlSeconds: 0, maxRetries: 0 }));
    expect((unauth as LangfuseAPIError).statusCode).toBe(401);
    expect((unauth as LangfuseAPIError).body).toMatchObject({ message: expect.stringMatching(/^Invalid credentials/) as unknown });
    const noAuth = await fetch(`${lf.baseUrl}/api/public/v2/prompts/x`);
    expect(noAuth.status).toBe(401);

    const health = await fetch(`${lf.baseUrl}/api/public/health`);
    expect(await health.json()).toMatchObject({ status: 'OK' });
  });

  it('create adds a version with `latest` and moves labels; update ADDS labels and refuses `latest`; list', async () => {
    const lf = later(await startLangfusePromptStandIn({ prompts: SEED }));
    const langfuse = client(lf.baseUrl);

    const created = await langfuse.prompt.create({
      name: 'order-agent/system',
      type: 'chat',
      prompt: [{ role: 'system', content: 'v3 {{shop}}' }],
      labels: ['production'],
      config: { model: 'gpt-4o-mini' },
      commitMessage: 'third',
    });
    expect(created.version).toBe(3);
    expect(created.labels.sort()).toEqual(['latest', 'production']);
    expect(lf.versions('order-agent/system').map((v) => [v.version, [...v.labels].sort()])).toEqual([
      [1, []],
      [2, ['staging']],
      [3, ['latest', 'production']],
    ]);

    const updated = await langfuse.prompt.update({ name: 'order-agent/system', version: 1, newLabels: ['production', 'staging'] });
    expect([...updated.labels].sort()).toEqual(['production', 'staging']);
    expect(lf.versions('order-agent/system').map((v) => [v.version, [...v.labels].sort()])).toEqual([
      [1, ['production', 'staging']],
      [2, []],
      [3, ['latest']],
    ]);

    const latestErr = await rejection(langfuse.prompt.update({ name: 'order-agent/system', version: 2, newLabels: ['latest'] }));
    expect((latestErr as LangfuseAPIError).statusCode).toBe(400);

    const missing = await rejection(langfuse.prompt.update({ name: 'nope', version: 1, newLabels: ['x'] }));
    expect((missing as LangfuseAPIError).statusCode).toBe(404);

    const text = await langfuse.prompt.create({ name: 'plain', prompt: 'Hello {{name}}', labels: ['production'] });
    expect(text.type).toBe('text');
    expect((await langfuse.prompt.get('plain', { cacheTtlSeconds: 0 })).compile({ name: 'Bo' })).toBe('Hello Bo');

    const list = await langfuse.api.prompts.list({ label: 'production' });
    expect(list.meta).toEqual({ page: 1, limit: 10, totalItems: 2, totalPages: 1 });
    expect(list.data.map((d) => [d.name, d.type, d.versions])).toEqual([
      ['order-agent/system', 'chat', [1]],
      ['plain', 'text', [1]],
    ]);
    const paged = await langfuse.api.prompts.list({ limit: 1, page: 2 });
    expect(paged.data.map((d) => d.name)).toEqual(['plain']);
    expect(paged.meta.totalPages).toBe(2);
  });

  it('fault modes: hang → SDK timeout; 500; bad JSON; reset; refused connection on the same port; delay', async () => {
    const lf = later(await startLangfusePromptStandIn({ prompts: SEED }));
    const langfuse = client(lf.baseUrl);
    const get = (extra: { fetchTimeoutMs?: number } = {}): Promise<unknown> =>
      langfuse.prompt.get('order-agent/system', { type: 'chat', cacheTtlSeconds: 0, maxRetries: 0, ...extra });

    lf.setFault('hang');
    const t0 = Date.now();
    const hangErr = await rejection(get({ fetchTimeoutMs: 200 }));
    // SDK quirk (@langfuse/core 5.11.1 on Node): the timeout aborts fetch with the *string* reason "timeout",
    // which is not an Error named AbortError, so it surfaces as a plain LangfuseAPIError whose message is
    // the JSON string '"timeout"' — NOT LangfuseAPITimeoutError.
    expect(hangErr).toBeInstanceOf(LangfuseAPIError);
    expect(hangErr).not.toBeInstanceOf(LangfuseAPITimeoutError);
    expect((hangErr as LangfuseAPIError).message).toBe('"timeout"');
    expect((hangErr as LangfuseAPIError).statusCode).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(2000);

    lf.setFault({ status: 500 });
    const e500 = await rejection(get());
    expect(e500).toBeInstanceOf(LangfuseAPIError);
    expect((e500 as LangfuseAPIError).statusCode).toBe(500);

    lf.setFault({ status: 503, body: 'upstream unavailable' });
    expect((await rejection(get())) as LangfuseAPIError).toMatchObject({ statusCode: 503 });

    lf.setFault('bad-json');
    // SDK quirk: a 200 with an unparsable body does NOT reject. getResponseBody() returns
    // {ok:false, error:{reason:'non-json', ...}} as the *data*, which has no `type`, so the SDK builds a
    // TextPromptClient with undefined name/version/prompt even though type 'chat' was requested.
    const badJson = (await get()) as { name?: unknown; version?: unknown; prompt?: unknown; promptResponse?: unknown };
    expect(badJson.constructor.name).toBe('TextPromptClient');
    expect(badJson.version).toBeUndefined();
    expect(badJson.prompt).toBeUndefined();
    expect(badJson.promptResponse).toMatchObject({ ok: false, error: { reason: 'non-json', statusCode: 200 } });

    lf.setFault('reset');
    const reset = await rejection(get());
    expect(reset).toBeInstanceOf(LangfuseAPIError);
    expect((reset as LangfuseAPIError).statusCode).toBeUndefined();

    lf.setFault(null);
    await lf.stopListening();
    expect(lf.listening).toBe(false);
    const refused = await rejection(get());
    expect(refused).toBeInstanceOf(LangfuseAPIError);
    expect((refused as Error).message).toMatch(/fetch failed/);
    await lf.startListening();
    expect(lf.baseUrl).toBe(`http://127.0.0.1:${lf.port}`);
    await expect(get()).resolves.toBeDefined();

    lf.setDelayMs(150);
    const t1 = Date.now();
    await get();
    expect(Date.now() - t1).toBeGreaterThanOrEqual(140);
    lf.setDelayMs(0);

    // a parked (hung) request is answered once the fault is cleared
    lf.setFault('hang');
    const pending = get({ fetchTimeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 50));
    lf.setFault(null);
    await expect(pending).resolves.toMatchObject({ version: 1 });

    // a request still hung at close() is ended
    lf.setFault('hang');
    const hungAtClose = rejection(get({ fetchTimeoutMs: 3000 }));
    await new Promise((r) => setTimeout(r, 50));
    await lf.close();
    expect(await hungAtClose).toBeInstanceOf(LangfuseAPIError);
  });
});

// ---------------------------------------------------------------------------
// OpenAI
// ---------------------------------------------------------------------------

describe('openai stand-in', () => {
  const messages = [new SystemMessage('You are terse.'), new HumanMessage('Where is order 42?')];

  it('Responses API via ChatOpenAI: content, usage_metadata, store:false via modelKwargs and zdrEnabled', async () => {
    const oa = later(await startOpenAIStandIn({ apiKey: 'k' }));
    const model = new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: 'k',
      configuration: { baseURL: oa.baseURL },
      useResponsesApi: true,
      maxRetries: 0,
      modelKwargs: { store: false },
    });
    const res = await model.invoke(messages);
    expect(res.text).toBe('stand-in answer (2 messages)');
    expect(res.usage_metadata).toMatchObject({ input_tokens: expect.any(Number) as unknown, output_tokens: 7 });
    // cast: with exactOptionalPropertyTypes, @langchain/core 1.4's AIMessage['usage_metadata'] resolves to `never`
    const usage = res.usage_metadata as UsageMetadata | undefined;
    expect(usage?.total_tokens).toBe((usage?.input_tokens ?? 0) + 7);
    expect(res.response_metadata).toMatchObject({ model_provider: 'openai', status: 'completed' });

    const req = oa.requests.at(-1);
    expect(req?.path).toBe('/v1/responses');
    expect(req?.headers.authorization).toBe('Bearer k');
    expect(req?.body).toMatchObject({ model: 'gpt-4o-mini', store: false, stream: false });

    const zdr = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', configuration: { baseURL: oa.baseURL }, useResponsesApi: true, maxRetries: 0, zdrEnabled: true });
    await zdr.invoke('hi');
    expect(oa.requests.at(-1)?.body).toMatchObject({ store: false, input: [{ role: 'user', content: 'hi' }] });

    const wrongKey = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'bad-key-123456', configuration: { baseURL: oa.baseURL }, useResponsesApi: true, maxRetries: 0 });
    const e401 = await rejection(wrongKey.invoke('hi'));
    expect(e401).toMatchObject({ status: 401, lc_error_code: 'MODEL_AUTHENTICATION' });
  });

  it('Responses API streaming (SSE events) via ChatOpenAI', async () => {
    const oa = later(await startOpenAIStandIn({ answer: () => 'one two three' }));
    const model = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', configuration: { baseURL: oa.baseURL }, useResponsesApi: true, maxRetries: 0 });
    let full: AIMessageChunk | undefined;
    const deltas: string[] = [];
    for await (const chunk of await model.stream(messages)) {
      if (chunk.text) deltas.push(chunk.text);
      full = full ? full.concat(chunk) : chunk;
    }
    expect(deltas).toEqual(['one', ' two', ' three']);
    expect(full?.text).toBe('one two three');
    expect(full?.usage_metadata).toMatchObject({ output_tokens: 4 });
    expect(oa.requests.at(-1)?.body).toMatchObject({ stream: true });
  });

  it('Chat Completions via ChatOpenAI: non-streaming and streaming with include_usage', async () => {
    const oa = later(await startOpenAIStandIn());
    const model = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', configuration: { baseURL: oa.baseURL }, useResponsesApi: false, maxRetries: 0, modelKwargs: { store: false } });
    const res = await model.invoke(messages);
    expect(res.content).toBe('stand-in answer (2 messages)');
    expect(res.usage_metadata).toMatchObject({ output_tokens: 7 });
    expect(oa.requests.at(-1)).toMatchObject({ path: '/v1/chat/completions', body: { store: false } });

    const streaming = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', configuration: { baseURL: oa.baseURL }, useResponsesApi: false, maxRetries: 0, streamUsage: true });
    let full: AIMessageChunk | undefined;
    for await (const chunk of await streaming.stream(messages)) full = full ? full.concat(chunk) : chunk;
    expect(full?.content).toBe('stand-in answer (2 messages)');
    expect(full?.usage_metadata).toMatchObject({ output_tokens: 7 });
    expect(oa.requests.at(-1)?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('faults: queued 429 with retry-after is surfaced; hang is cut by client timeout; reset; persistent 503', async () => {
    const oa = later(await startOpenAIStandIn());
    const model = (extra: { timeout?: number } = {}): ChatOpenAI =>
      new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', configuration: { baseURL: oa.baseURL }, useResponsesApi: true, maxRetries: 0, ...extra });

    oa.queueFault({ status: 429, headers: { 'retry-after': '1' } });
    const e429 = await rejection(model().invoke('hi'));
    expect(e429).toMatchObject({ status: 429, lc_error_code: 'MODEL_RATE_LIMIT', code: 'rate_limit_exceeded', type: 'requests' });
    expect((e429 as { headers: Headers }).headers.get('retry-after')).toBe('1');
    // queue is FIFO and consumed: next call succeeds
    await expect(model().invoke('hi')).resolves.toBeDefined();

    oa.queueFault('hang');
    const t0 = Date.now();
    const eHang = await rejection(model({ timeout: 200 }).invoke('hi'));
    expect(eHang).toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - t0).toBeLessThan(2000);

    oa.queueFault('reset');
    const eReset = await rejection(model().invoke('hi'));
    expect((eReset as Error).constructor.name).toBe('APIConnectionError');

    oa.setFault({ status: 503 });
    const e503 = await rejection(model().invoke('hi'));
    expect(e503).toMatchObject({ status: 503, type: 'server_error' });
    oa.setFault(null);

    oa.setLatencyMs(100);
    const t1 = Date.now();
    await model().invoke('hi');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(95);
  });

  it('handles a burst of concurrent raw requests without recording', async () => {
    const oa = later(await startOpenAIStandIn({ record: false, latencyMs: 20 }));
    const N = 300;
    const results = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await fetch(`${oa.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }] }),
        });
        return ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content;
      }),
    );
    expect(new Set(results)).toEqual(new Set(['stand-in answer (1 messages)']));
    expect(oa.requests).toHaveLength(0);
    expect(oa.stats().total).toBe(N);
    expect(oa.stats().maxInFlight).toBeGreaterThan(1);
  });
});

// ---------------------------------------------------------------------------
// OTLP
// ---------------------------------------------------------------------------

/** Produce a small span tree (parent + child with int/array/double/bool attributes, an event, error status). */
function emitSpans(provider: NodeTracerProvider): void {
  const tracer = provider.getTracer('stand-in-test', '1.2.3');
  const parent = tracer.startSpan('agent.run', { kind: SpanKind.SERVER, attributes: { 'http.response.status_code': 200 } });
  const child = tracer.startSpan(
    'llm.call',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.usage.input_tokens': 42,
        'gen_ai.request.temperature': 0.5,
        'order.id': '42',
        'tools.enabled': true,
        'langfuse.tags': ['a', 'b'],
      },
    },
    trace.setSpan(ROOT_CONTEXT, parent),
  );
  child.addEvent('retry', { attempt: 2, reason: 'rate_limited' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
}

describe('otlp receiver', () => {
  it('receives OTLP/JSON from the real exporter with typed attributes, events, parent ids and resource', async () => {
    const rx = later(await startOtlpReceiver());
    const exporter = new OTLPTraceExporter({ url: rx.endpoint });
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'order-agent' }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 20 })],
    });
    cleanups.push(() => provider.shutdown());
    emitSpans(provider);
    await provider.forceFlush();

    const spans = await rx.waitForSpans((s) => s.length >= 2, 2000);
    const llm = spans.find((s) => s.name === 'llm.call');
    const run = spans.find((s) => s.name === 'agent.run');
    expect(llm && run).toBeTruthy();
    if (!llm || !run) return;
    expect(llm.attributes['gen_ai.usage.input_tokens']).toBe(42);
    expect(llm.attributeTypes['gen_ai.usage.input_tokens']).toBe('int');
    expect(llm.attributeTypes['gen_ai.request.temperature']).toBe('double');
    expect(llm.attributeTypes['order.id']).toBe('string');
    expect(llm.attributeTypes['tools.enabled']).toBe('bool');
    expect(llm.attributes['langfuse.tags']).toEqual(['a', 'b']);
    expect(llm.attributeTypes['langfuse.tags']).toBe('array');
    expect(llm.events).toEqual([
      expect.objectContaining({ name: 'retry', attributes: { attempt: 2, reason: 'rate_limited' }, attributeTypes: { attempt: 'int', reason: 'string' } }),
    ]);
    expect(llm.status).toEqual({ code: 2, message: 'boom' });
    expect(llm.kind).toBe(3);
    expect(run.kind).toBe(2);
    expect(llm.parentSpanId).toBe(run.spanId);
    expect(run.parentSpanId).toBeUndefined();
    expect(llm.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(llm.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(llm.resource['service.name']).toBe('order-agent');
    expect(llm.scope).toBe('stand-in-test');
    expect(BigInt(llm.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(llm.startTimeUnixNano));
    expect(rx.requests[0]).toMatchObject({ status: 200, spanCount: 2 });
    expect(rx.requests[0]?.contentType).toMatch(/^application\/json/);
  });

  it('decodes protobuf + gzip identically to JSON for the same spans', async () => {
    const rx = later(await startOtlpReceiver());
    const memory = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    cleanups.push(() => provider.shutdown());
    emitSpans(provider);
    const finished: ReadableSpan[] = memory.getFinishedSpans();
    expect(finished).toHaveLength(2);

    const proto = ProtobufTraceSerializer.serializeRequest(finished);
    const json = JsonTraceSerializer.serializeRequest(finished);
    if (!proto || !json) throw new Error('serializer returned nothing');

    const res = await fetch(rx.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      body: gzipSync(proto),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    expect(rx.requests[0]).toMatchObject({ contentType: 'application/x-protobuf', contentEncoding: 'gzip', spanCount: 2 });

    const fromJson = decodeTraceExport(json, 'application/json');
    expect(rx.spans).toEqual(fromJson);
    expect(rx.spans[0]?.scopeVersion).toBe('1.2.3');
    const llm = rx.spans.find((s) => s.name === 'llm.call');
    expect(llm?.attributeTypes['gen_ai.usage.input_tokens']).toBe('int');
    expect(llm?.attributes['gen_ai.usage.input_tokens']).toBe(42);
    // nanosecond precision survives the 64-bit decode
    const original = finished.find((s) => s.name === 'llm.call');
    const [sec, ns] = original?.startTime ?? [0, 0];
    expect(llm?.startTimeUnixNano).toBe((BigInt(sec) * 1_000_000_000n + BigInt(ns)).toString());

    const bad = await fetch(rx.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: new Uint8Array([0x0a, 0xff]) });
    expect(bad.status).toBe(400);
    const unsupported = await fetch(rx.endpoint, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(unsupported.status).toBe(415);
  });

  it('plays Langfuse /api/public/otel/v1/traces: basic auth + required ingestion header', async () => {
    const rx = later(
      await startOtlpReceiver({
        path: '/api/public/otel/v1/traces',
        basicAuth: { user: 'pk-lf-1', pass: 'sk-lf-1' },
        requiredHeaders: { 'X-Langfuse-Ingestion-Version': '4' },
      }),
    );
    expect(rx.endpoint).toBe(`${rx.url}/api/public/otel/v1/traces`);
    const body = JSON.stringify({ resourceSpans: [] });
    const post = (headers: Record<string, string>): Promise<Response> =>
      fetch(rx.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const auth = 'Basic ' + Buffer.from('pk-lf-1:sk-lf-1').toString('base64');
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: 'Basic ' + Buffer.from('pk-lf-1:nope').toString('base64') })).status).toBe(401);
    expect((await post({ authorization: auth })).status).toBe(400);
    expect((await post({ authorization: auth, 'x-langfuse-ingestion-version': '4' })).status).toBe(200);
    expect((await fetch(`${rx.url}/v1/traces`, { method: 'POST', body })).status).toBe(404);

    // the real exporter with Langfuse-style headers
    const exporter = new OTLPTraceExporter({ url: rx.endpoint, headers: { Authorization: auth, 'x-langfuse-ingestion-version': '4' } });
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    cleanups.push(() => provider.shutdown());
    emitSpans(provider);
    await rx.waitForSpans((s) => s.some((x) => x.name === 'agent.run'), 2000);
  });

  it('failing mode (503) rejects exports without storing spans; failNext + Retry-After: 0 lets the exporter retry', async () => {
    const rx = later(await startOtlpReceiver());
    const memory = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    cleanups.push(() => provider.shutdown());
    emitSpans(provider);
    const spans = memory.getFinishedSpans();

    const exporter = new OTLPTraceExporter({ url: rx.endpoint, timeoutMillis: 300 });
    cleanups.push(() => exporter.shutdown());
    const exportOnce = (): Promise<ExportResult> => new Promise((resolve) => exporter.export(spans, resolve));

    rx.setFailing(503);
    const failed = await exportOnce();
    expect(failed.code).toBe(ExportResultCode.FAILED);
    expect(rx.spans).toHaveLength(0);
    expect(rx.requests.every((r) => r.status === 503)).toBe(true);

    rx.setFailing(null);
    rx.reset();
    rx.failNext(1, 503, { retryAfter: '0' });
    const ok = await exportOnce();
    expect(ok.code).toBe(ExportResultCode.SUCCESS);
    expect(rx.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(rx.spans).toHaveLength(2);

    const timeout = await rejection(rx.waitForSpans((s) => s.length > 5, 50));
    expect((timeout as Error).message).toMatch(/2 span\(s\) received: \[(llm\.call|agent\.run), (llm\.call|agent\.run)\]/);
  });
});

// ---------------------------------------------------------------------------
// OTLP/JSON decoder edge cases + standalone mode
// ---------------------------------------------------------------------------

describe('otlp json decoding variants', () => {
  it('accepts intValue as string, snake_case keys, enum names and base64 ids', () => {
    const traceIdHex = '0123456789abcdef0123456789abcdef';
    const body = JSON.stringify({
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'svc' } }] },
          scope_spans: [
            {
              scope: { name: 'manual' },
              spans: [
                {
                  trace_id: Buffer.from(traceIdHex, 'hex').toString('base64'),
                  span_id: 'ABCDEF0123456789',
                  parent_span_id: '',
                  name: 'x',
                  kind: 'SPAN_KIND_CLIENT',
                  start_time_unix_nano: '1700000000000000001',
                  end_time_unix_nano: 1700000000000000,
                  attributes: [
                    { key: 'tokens', value: { intValue: '9007199254740993' } },
                    { key: 'small', value: { intValue: '7' } },
                    { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { boolValue: true } }] } } },
                    { key: 'b', value: { bytesValue: Buffer.from([1, 2]).toString('base64') } },
                  ],
                  status: { code: 'STATUS_CODE_OK' },
                },
              ],
            },
          ],
        },
      ],
    });
    const [span] = decodeTraceExport(new TextEncoder().encode(body), 'application/json; charset=utf-8');
    expect(span).toMatchObject({
      traceId: traceIdHex,
      spanId: 'abcdef0123456789',
      kind: 3,
      startTimeUnixNano: '1700000000000000001',
      status: { code: 1 },
      resource: { 'service.name': 'svc' },
      scope: 'manual',
      attributes: { tokens: '9007199254740993', small: 7, kv: { a: true }, b: new Uint8Array([1, 2]) },
      attributeTypes: { tokens: 'int', small: 'int', kv: 'kvlist', b: 'bytes' },
    });
    expect(span?.parentSpanId).toBeUndefined();
  });
});

describe('standalone mode', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));

  function runStandalone(file: string, args: string[]): Promise<{ url: string; stop(): Promise<number | null> }> {
    const child = spawn(process.execPath, ['--import', 'tsx', `test/support/${file}`, '--port', '0', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${file} did not print a listening line: ${out} ${err}`));
      }, 8000);
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^listening (\S+)\n/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          const url = m[1];
          resolve({
            url,
            stop: () => {
              child.kill('SIGTERM');
              return exited;
            },
          });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited early (${String(code)}): ${err}`));
      });
    });
  }

  it('each stand-in runs as `node --import tsx <file> --port N`, prints `listening <url>` and exits 0 on SIGTERM', async () => {
    const [lf, oa, rx] = await Promise.all([
      runStandalone('langfuse-prompt-stand-in.ts', ['--public-key', 'pk', '--secret-key', 'sk']),
      runStandalone('openai-stand-in.ts', ['--latency-ms', '1', '--no-record']),
      runStandalone('otlp-receiver.ts', ['--langfuse']),
    ]);
    try {
      expect((await fetch(`${lf.url}/api/public/health`)).status).toBe(200);
      const chat = await fetch(`${oa.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [] }),
      });
      expect(((await chat.json()) as { object: string }).object).toBe('chat.completion');
      const otlp = await fetch(`${rx.url}/api/public/otel/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-langfuse-ingestion-version': '4' },
        body: '{"resourceSpans":[]}',
      });
      expect(otlp.status).toBe(200);
    } finally {
      const codes = await Promise.all([lf.stop(), oa.stop(), rx.stop()]);
      expect(codes).toEqual([0, 0, 0]);
    }
  }, 15_000);
});
