import { Writable } from 'node:stream';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GRAPH_LAYOUTS } from '../src/agent/graph-layout.js';
import { SAFE_UPDATE_FIELDS } from '../src/agent/stream-updates.js';
import { createLogger } from '../src/logger.js';
import type { PromptSource } from '../src/prompts/prompt-source.js';
import { build } from './support/build.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { fixedAnswerModel, recordingModel } from './support/models.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { parseEventStream, postEventStream, type LiveEventStream, type SseEvent } from './support/sse-client.js';
import { parentId, spanNamed, testTracing } from './support/telemetry.js';

/** POST /order-status/stream (SPEC §12): events, sanitizer, errors, cancellation, back-pressure, spans. */
const tracing = testTracing();
let langfuse: LangfusePromptStandIn;
let openai: OpenAIStandIn;

beforeAll(async () => {
  langfuse = await startSeededLangfuse('pk-lf-stream', 'sk-lf-stream');
  openai = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => 'Your order is being processed and ships soon.' });
});
afterAll(async () => Promise.all([langfuse.close(), openai.close()]));
beforeEach(() => {
  tracing.reset();
  openai.clearFaults();
  openai.clearRequests();
  openai.setLatencyMs(0);
  openai.setChunkDelayMs(0);
});

const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_stream_01' };
const stream = (payload: unknown = body, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/order-status/stream',
  headers: { 'content-type': 'application/json', ...headers },
  payload: JSON.stringify(payload),
});
/** The service against the OpenAI and Langfuse stand-ins (real clients, real protocols). */
const providerEnv = (extra: Record<string, string> = {}) => ({
  LANGFUSE_PUBLIC_KEY: 'pk-lf-stream',
  LANGFUSE_SECRET_KEY: 'sk-lf-stream',
  LANGFUSE_BASE_URL: langfuse.baseUrl,
  OPENAI_API_KEY: 'sk-stream',
  OPENAI_BASE_URL: openai.baseURL,
  OPENAI_TIMEOUT_MS: '5000',
  ...extra,
});

const names = (events: readonly SseEvent[]) => events.map((e) => e.event);
const updates = (events: readonly SseEvent[]) => events.filter((e) => e.event === 'update').map((e) => e.data as Record<string, Record<string, unknown>>);
const tokens = (events: readonly SseEvent[]) => events.filter((e) => e.event === 'token').map((e) => e.data.text as string);

/** Event kinds in order, runs of the same kind collapsed: e.g. metadata, update, token, update, done. */
const shape = (events: readonly SseEvent[]) => names(events).filter((name, i, all) => name !== all[i - 1]);

describe('POST /order-status/stream', () => {
  it('streams metadata, one update per step, the answer token by token, then exactly the /order-status body', async () => {
    const { app } = await build();
    const res = await app.inject(stream({ ...body, conversation_id: 'conv_stream_order' }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['cache-control']).toBe('no-cache');
    const events = parseEventStream(res.body);

    expect(shape(events)).toEqual(['metadata', 'update', 'token', 'update', 'done']);
    const http = spanNamed(tracing.spans(), 'POST /order-status/stream');
    expect(events[0]?.data).toEqual({ conversation_id: 'conv_stream_order', trace_id: http.spanContext().traceId });
    expect(updates(events)).toEqual([
      { retrieve_policy: { policy_document_ids: ['policy-eu-shipping-v14', 'policy-eu-escalation-v3'] } },
      { read_memory: { memory_record_types: ['support_preference'] } },
      { fetch_order: { order_state: 'processing' } },
      { classify_outcome: { outcome: 'answer' } },
      {
        compose_answer: {
          capture_mode: 'metadata_only',
          capture_policy_version: 'capture-policy-1',
          prompt_name: 'order-status-answer',
          prompt_version: 1,
          prompt_label: 'production',
          prompt_source: 'local',
        },
      },
    ]);
    expect(tokens(events).length).toBeGreaterThan(5);
    const done = events.at(-1)?.data;
    expect(tokens(events).join('')).toBe(done.answer);

    // The same question on /order-status: the same body, field for field (trace and interaction ids are per run).
    const plain = (await app.inject({ method: 'POST', url: '/order-status', payload: { ...body, conversation_id: 'conv_stream_order' } })).json();
    expect(Object.keys(done).sort()).toEqual(Object.keys(plain).sort());
    expect(done.interaction_id).toEqual(expect.any(String));
    expect({ ...done, trace_id: undefined, interaction_id: undefined }).toEqual({ ...plain, trace_id: undefined, interaction_id: undefined });
  });

  it('writes the first token at once and later ones together (STREAM_TOKEN_COALESCE_MS), none lost or reordered', async () => {
    const answer = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const paced = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => answer, chunkDelayMs: 5 });
    try {
      const run = async (coalesceMs: string) => {
        const { app } = await build({ env: providerEnv({ OPENAI_BASE_URL: paced.baseURL, STREAM_TOKEN_COALESCE_MS: coalesceMs }) });
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        const client = await postEventStream(`${url}/order-status/stream`, body);
        while ((await client.next())?.event !== 'token');
        // The first token arrived alone: it was not held back for the ones behind it.
        const first = client.received.filter((e) => e.event === 'token');
        const readsBefore = client.reads;
        const events = await client.all();
        expect(tokens(events).join('')).toBe(answer);
        expect(events.at(-1)?.data.answer).toBe(answer);
        return { firstTokens: first.length, laterReads: client.reads - readsBefore, tokenCount: tokens(events).length };
      };
      // A window longer than the answer (39 more tokens 5 ms apart), so a slow machine that
      // stretches the stream cannot turn it into more writes: at most 16 tokens per write.
      const coalesced = await run('1000');
      expect(coalesced.firstTokens).toBe(1);
      // Three writes of tokens, then compose_answer's update and done: a handful of reads, not 39.
      expect(coalesced.laterReads).toBeLessThanOrEqual(8);
      const eachAtOnce = await run('0');
      expect(eachAtOnce.laterReads).toBeGreaterThan(coalesced.laterReads);

      // A held token does not wait for the next event: the window's timer writes it. Tokens 100 ms
      // apart with a 10 ms window arrive one read each, before compose_answer's update.
      const slowAnswer = 'one two three four five six';
      const slow = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => slowAnswer, chunkDelayMs: 100 });
      try {
        const { app } = await build({ env: providerEnv({ OPENAI_BASE_URL: slow.baseURL, STREAM_TOKEN_COALESCE_MS: '10' }) });
        const client = await postEventStream(`${await app.listen({ host: '127.0.0.1', port: 0 })}/order-status/stream`, body);
        const readsAtToken: number[] = [];
        for (let event = await client.next(); event && event.event !== 'done'; event = await client.next()) {
          if (event.event === 'token') readsAtToken.push(client.reads);
        }
        expect(readsAtToken).toHaveLength(6);
        expect(new Set(readsAtToken).size).toBe(6);
      } finally {
        await slow.close();
      }
    } finally {
      await paced.close();
    }
  });

  it('the done event carries an interaction id that feedback accepts', async () => {
    const { app } = await build();
    const events = parseEventStream((await app.inject(stream())).body);
    const done = events.at(-1)?.data;
    const feedback = await app.inject({ method: 'POST', url: '/feedback', payload: { interaction_id: done.interaction_id, user_id: body.user_id, value: 'positive' } });
    expect(feedback.statusCode).toBe(202);
    expect(feedback.json()).toEqual({ status: 'accepted', score_id: `${done.trace_id}:user_feedback` });
  });

  it('streams the escalation path without tokens', async () => {
    const { calls, model } = recordingModel();
    const { app } = await build({ model });
    const events = parseEventStream((await app.inject(stream({ ...body, query: 'Where is my missing order?', order_reference: 'ORDER-404' }))).body);
    expect(shape(events)).toEqual(['metadata', 'update', 'done']);
    expect(updates(events).slice(2)).toEqual([
      { fetch_order: { order_state: 'missing' } },
      { classify_outcome: { outcome: 'escalate' } },
      { escalate: { outcome: 'escalated', escalation_reason: 'missing_order_state' } },
    ]);
    expect(events.at(-1)?.data).toMatchObject({ outcome: 'escalated' });
    expect(calls).toHaveLength(0);
  });

  it.each(GRAPH_LAYOUTS)('streams the same per-step updates in the %s layout', async (layout) => {
    const { app } = await build({ env: { GRAPH_LAYOUT: layout } });
    const events = parseEventStream((await app.inject(stream())).body);
    expect(updates(events).map((u) => Object.keys(u)[0])).toEqual(['retrieve_policy', 'read_memory', 'fetch_order', 'classify_outcome', 'compose_answer']);
    const spans = tracing.spans();
    const streamSpan = spanNamed(spans, 'workflow.stream updates');
    for (const step of ['retrieve_policy', 'read_memory', 'fetch_order', 'classify_outcome', 'compose_answer']) {
      expect(parentId(spanNamed(spans, `workflow.node ${step}`))).toBe(streamSpan.spanContext().spanId);
    }
  });
});

describe('OpenAPI', () => {
  it('documents the streaming route: the same body as /order-status, an event-stream answer, JSON errors', async () => {
    const { app } = await build();
    const doc = (await app.inject('/docs/json')).json();
    const route = doc.paths['/order-status/stream'].post;
    expect(route.requestBody.content['application/json'].schema).toEqual(doc.paths['/order-status'].post.requestBody.content['application/json'].schema);
    const events = route.responses['200'].content['text/event-stream'].schema.oneOf.map((e: { properties: { event: { enum: string[] } } }) => e.properties.event.enum[0]);
    expect(events).toEqual(['metadata', 'update', 'token', 'done', 'error']);
    expect(route.responses['503'].content['application/json']).toBeDefined();
  });
});

describe('the update sanitizer', () => {
  const CANARY_QUERY = 'Where is my order? CANARY-QUERY-7f3a';
  const CANARY_ANSWER = 'It ships Monday. CANARY-ANSWER-91bd';

  it('never lets the query, the answer or the user id into an update, only allowlisted fields', async () => {
    const { app } = await build({ model: fixedAnswerModel(CANARY_ANSWER) });
    const events = parseEventStream((await app.inject(stream({ ...body, query: CANARY_QUERY, user_id: 'usr_canary_5e2c' }))).body);
    expect(events.at(-1)?.data.answer).toBe(CANARY_ANSWER); // the answer does reach the client, as tokens and in done
    const everyUpdate = JSON.stringify(updates(events));
    for (const secret of ['CANARY-QUERY-7f3a', 'CANARY-ANSWER-91bd', 'usr_canary_5e2c', 'ORDER-924']) expect(everyUpdate).not.toContain(secret);
    for (const update of updates(events)) {
      for (const fields of Object.values(update)) for (const field of Object.keys(fields)) expect(SAFE_UPDATE_FIELDS.has(field), field).toBe(true);
    }
    expect(JSON.stringify(tokens(events))).not.toContain('CANARY-QUERY');
  });

  it("never streams another user's order state", async () => {
    const { calls, model } = recordingModel();
    const { app } = await build({ model });
    const res = await app.inject(stream({ ...body, order_reference: 'ORDER-7001', user_id: 'usr_someone_else' }));
    const events = parseEventStream(res.body);
    expect(res.body).not.toContain('in_transit');
    expect(res.body).not.toContain('in transit');
    expect(updates(events)).toContainEqual({ fetch_order: { order_state: 'unknown' } });
    expect(updates(events)).toContainEqual({ escalate: { outcome: 'escalated', escalation_reason: 'order_access_denied' } });
    expect(tokens(events)).toEqual([]);
    expect(calls).toHaveLength(0);
  });
});

describe('errors', () => {
  const failingSource: PromptSource = { kind: 'langfuse', fetch: () => Promise.reject(new Error('connect ECONNREFUSED')) };

  it('answers ordinary JSON errors before the first byte: validation, auth, label, rate limit, overload', async () => {
    const key = 'k'.repeat(32);
    const { app } = await build({ env: { SERVICE_API_KEYS: key, RATE_LIMIT_PER_USER_PER_MINUTE: '1' } });
    const auth = { authorization: `Bearer ${key}` };
    const cases = [
      [await app.inject(stream({ ...body, query: '' }, auth)), 400, 'invalid_request'],
      [await app.inject(stream({ ...body, prompt_label: 'latest' }, auth)), 400, 'invalid_request'],
      [await app.inject(stream(body)), 401, 'unauthorized'],
      [await app.inject(stream({ ...body, user_id: 'usr_limited' }, auth)), 200, undefined],
      [await app.inject(stream({ ...body, user_id: 'usr_limited' }, auth)), 429, 'rate_limited'],
    ] as const;
    for (const [res, status, code] of cases) {
      expect(res.statusCode).toBe(status);
      if (code) {
        expect(res.headers['content-type']).toContain('application/json');
        expect(res.json().error.code).toBe(code);
      }
    }
  });

  it('sheds load with a JSON 503 past MAX_CONCURRENT_REQUESTS, like /order-status', async () => {
    openai.setChunkDelayMs(100);
    const { app } = await build({ env: providerEnv({ MAX_CONCURRENT_REQUESTS: '1' }) });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const first = await postEventStream(`${url}/order-status/stream`, body);
    const shed = await postEventStream(`${url}/order-status/stream`, { ...body, user_id: 'usr_other' });
    expect(shed.status).toBe(503);
    expect(JSON.parse(await shed.text()).error.code).toBe('overloaded');
    expect(names(await first.all()).at(-1)).toBe('done');
  });

  it('sends an error event, not a second response, when the run fails after the stream began', async () => {
    const { app } = await build({ promptSource: failingSource, env: { LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk' } });
    const res = await app.inject(stream());
    expect(res.statusCode).toBe(200);
    const events = parseEventStream(res.body);
    expect(shape(events)).toEqual(['metadata', 'update', 'error']);
    expect(events.at(-1)?.data).toEqual({ error: { code: 'prompt_unavailable', message: expect.any(String), label: 'production' } });
  });

  it('retries a failure before the first token, invisibly to the client', async () => {
    openai.queueFault({ status: 503 });
    const { app } = await build({ env: providerEnv() });
    const events = parseEventStream((await app.inject(stream())).body);
    expect(names(events).at(-1)).toBe('done');
    expect(tokens(events).join('')).toBe('Your order is being processed and ships soon.');
    expect(openai.requests.filter((r) => r.path === '/v1/responses')).toHaveLength(2);
    const model = spanNamed(tracing.spans(), 'openai.responses.stream');
    expect(model.attributes).toMatchObject({ 'app.retry.final_attempt': 2, 'app.openai.stream.completed': true, 'langfuse.observation.level': 'WARNING' });
  });

  it('does not retry once tokens reached the client: the failure is an error event', async () => {
    openai.queueFault({ cutStreamAfterDeltas: 2 });
    openai.setChunkDelayMs(30);
    const { app } = await build({ env: providerEnv() });
    const events = parseEventStream((await app.inject(stream())).body);
    expect(tokens(events)).toEqual(['Your', ' order']);
    expect(events.at(-1)).toEqual({ event: 'error', data: { error: { code: 'model_unavailable', message: 'the model provider is unavailable' } } });
    expect(openai.requests.filter((r) => r.path === '/v1/responses')).toHaveLength(1);
    const model = spanNamed(tracing.spans(), 'openai.responses.stream');
    expect(model.status.code).toBe(SpanStatusCode.ERROR);
    expect(model.attributes).toMatchObject({ 'app.openai.stream.chunk_count': 2, 'app.openai.stream.completed': false, 'app.openai.stream.cancelled': false });
    expect(model.events.find((e) => e.name === 'model.retry')?.attributes).toMatchObject({ 'app.retry.retryable': false, 'app.retry.blocked_by': 'stream_started' });
  });
});

describe('model stream spans', () => {
  it.each([
    ['responses', 'openai.responses.stream', '/v1/responses'],
    ['chat_completions', 'openai.chat.completions.stream', '/v1/chat/completions'],
  ] as const)('%s: every §3 attribute, time to first chunk, its ISO time, chunks, usage and the prompt link', async (api, spanName, path) => {
    openai.setChunkDelayMs(20);
    const { app } = await build({ env: providerEnv({ OPENAI_API: api }) });
    const events = parseEventStream((await app.inject(stream())).body);
    expect(tokens(events).join('')).toBe('Your order is being processed and ships soon.');

    const sent = openai.requests.find((r) => r.path === path)?.body as Record<string, unknown>;
    expect(sent.stream).toBe(true);
    if (api === 'chat_completions') expect(sent.stream_options).toEqual({ include_usage: true });
    else expect(sent.store).toBe(false);

    const span = spanNamed(tracing.spans(), spanName);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.request.stream': true,
      'langfuse.observation.type': 'generation',
      'langfuse.observation.prompt.name': 'order-status-answer',
      'langfuse.observation.prompt.version': 1,
      'langfuse.observation.metadata.prompt_label': 'production',
      'app.openai.stream.chunk_count': tokens(events).length,
      'app.openai.stream.completed': true,
      'app.openai.stream.cancelled': false,
    });
    expect(Number.isInteger(span.attributes['langfuse.observation.prompt.version'])).toBe(true);
    expect(span.attributes['gen_ai.response.id']).toEqual(expect.any(String));
    expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    // The same success path as /order-status: the call is priced (model-call-outcome.ts).
    expect(span.attributes['app.cost.currency']).toBe('USD');
    expect(JSON.parse(span.attributes['langfuse.observation.cost_details'] as string)).toMatchObject({ total: expect.any(Number) });

    const ttfc = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    const start = spanMs(span.startTime);
    const end = spanMs(span.endTime);
    const firstChunk = Date.parse(span.attributes['langfuse.observation.completion_start_time'] as string);
    expect(span.attributes['langfuse.observation.completion_start_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(firstChunk).toBeGreaterThanOrEqual(Math.floor(start));
    expect(firstChunk).toBeLessThanOrEqual(Math.ceil(end));
    expect(Math.abs(firstChunk - (start + ttfc * 1000))).toBeLessThan(5);
    // the deltas are 20 ms apart: the answer takes longer than its first chunk
    expect(end - firstChunk).toBeGreaterThan(50);
  });

  it('workflow.stream updates sits between the root span and the node spans, with its counts', async () => {
    const { app } = await build();
    const events = parseEventStream((await app.inject(stream())).body);
    const spans = tracing.spans();
    const root = spanNamed(spans, 'invoke_agent order-status');
    const streamSpan = spanNamed(spans, 'workflow.stream updates');
    expect(parentId(streamSpan)).toBe(root.spanContext().spanId);
    expect(parentId(spanNamed(spans, 'workflow.node compose_answer'))).toBe(streamSpan.spanContext().spanId);
    expect(streamSpan.attributes).toMatchObject({
      'app.workflow.stream.mode': 'updates',
      'app.workflow.stream.event_count': updates(events).length,
      'app.workflow.stream.completed': true,
      'langfuse.trace.name': 'order-status-turn',
      'langfuse.user.id': 'usr_stream_01',
    });
    expect(root.attributes['langfuse.trace.tags']).toEqual(['order-status', 'http', 'streaming', 'production']);
    // lifecycle metadata only: no event content on the span
    expect(JSON.stringify(streamSpan.attributes)).not.toContain('processing');
  });
});

describe('a client that goes away', () => {
  const longAnswer = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');

  it('aborts the provider request within 1 s, ends the spans as cancelled, logs no error and frees its slot', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const slow = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => longAnswer, chunkDelayMs: 25 });
    try {
      const { app } = await build({ logger, env: providerEnv({ OPENAI_BASE_URL: slow.baseURL, MAX_CONCURRENT_REQUESTS: '1' }) });
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const client = await postEventStream(`${url}/order-status/stream`, body);
      while ((await client.next())?.event !== 'token');
      const leftAt = Date.now();
      client.disconnect();

      await until(() => slow.streamAborts.length === 1);
      expect((slow.streamAborts[0]?.closedAt ?? Infinity) - leftAt).toBeLessThan(1_000);
      expect(slow.streamAborts[0]?.deltasSent).toBeLessThan(slow.streamAborts[0]?.deltasTotal ?? 0);

      await until(() => tracing.spans().some((s) => s.name === 'POST /order-status/stream'));
      const spans = tracing.spans();
      expect(spanNamed(spans, 'POST /order-status/stream').attributes['app.http.client_disconnected']).toBe(true);
      const model = spanNamed(spans, 'openai.responses.stream');
      expect(model.attributes).toMatchObject({ 'app.openai.stream.cancelled': true, 'app.openai.stream.completed': false });
      expect(model.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(spanNamed(spans, 'workflow.stream updates').attributes['app.workflow.stream.completed']).toBe(false);
      expect(spanNamed(spans, 'invoke_agent order-status').attributes['app.task.outcome']).toBe('cancelled');

      // The one in-flight slot is free again.
      const again = await postEventStream(`${url}/order-status/stream`, { ...body, order_reference: 'ORDER-404' });
      expect(again.status).toBe(200);
      expect(names(await again.all()).at(-1)).toBe('done');
      await until(() => tracing.spans().some((s) => s.name === 'POST /order-status/stream' && spanStatusCode(s) === 200));
      const levels = lines.map((l) => (JSON.parse(l) as { level: number }).level);
      expect(levels.filter((level) => level >= 50)).toEqual([]);
      expect(lines.join('\n')).toContain('stream client disconnected');
    } finally {
      await slow.close();
    }
  });

  it('a slow reader holds the provider back instead of the service buffering the answer', async () => {
    // 32 MB of answer in 16 KB deltas (Chat Completions: no final event repeating the text), far
    // more than the kernel's socket buffers between the stand-in, the service and the client.
    const big = Array.from({ length: 2_000 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(16_380)}`).join(' ');
    const slow = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => big });
    let client: LiveEventStream | undefined;
    try {
      const { app } = await build({ env: providerEnv({ OPENAI_BASE_URL: slow.baseURL, OPENAI_API: 'chat_completions' }) });
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      client = await postEventStream(`${url}/order-status/stream`, body);
      while ((await client.next())?.event !== 'token');
      client.response.pause(); // the reader stops reading

      // The stand-in ends up blocked on the socket, part-way through, and stays there.
      let stalled = slow.activeStreams()[0];
      for (let checks = 0; checks < 20; checks += 1) {
        await new Promise((r) => setTimeout(r, 300));
        const now = slow.activeStreams()[0];
        if (now?.waitingForDrain && now.deltasSent === stalled?.deltasSent) break;
        stalled = now;
      }
      expect(stalled?.waitingForDrain).toBe(true);
      expect(stalled?.deltasSent).toBeLessThan((stalled?.deltasTotal ?? 0) / 2);

      client.disconnect();
      await until(() => slow.streamAborts.length === 1);
      expect(slow.streamAborts[0]?.deltasSent).toBeLessThan(slow.streamAborts[0]?.deltasTotal ?? 0);
    } finally {
      client?.disconnect();
      await slow.close();
    }
  });

  it('a reader that pauses and resumes gets the whole answer', async () => {
    const long = Array.from({ length: 300 }, (_, i) => `w${i}${'y'.repeat(200)}`).join(' ');
    const slow = await startOpenAIStandIn({ apiKey: 'sk-stream', answer: () => long });
    try {
      const { app } = await build({ env: providerEnv({ OPENAI_BASE_URL: slow.baseURL }) });
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const client = await postEventStream(`${url}/order-status/stream`, body);
      while ((await client.next())?.event !== 'token');
      client.response.pause();
      await new Promise((r) => setTimeout(r, 200));
      client.response.resume();
      const events = await client.all();
      expect(events.at(-1)?.data.answer).toBe(long);
      expect(tokens(events).join('')).toBe(long);
    } finally {
      await slow.close();
    }
  });
});

function spanMs(time: readonly [number, number]): number {
  return time[0] * 1000 + time[1] / 1e6;
}

function spanStatusCode(span: ReadableSpan): unknown {
  return span.attributes['http.response.status_code'];
}

async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
