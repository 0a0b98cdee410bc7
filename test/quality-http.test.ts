import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnswerModel } from '../src/model/answer-model.js';
import { OfflineAnswerModel } from '../src/model/offline-model.js';
import { build } from './support/build.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { recordingScoreSink } from './support/score-sinks.js';
import { parentId, spanNamed, testTracing } from './support/telemetry.js';

const tracing = testTracing();
beforeEach(() => tracing.reset());

const ask = (userId = 'usr_q_01', extra: Record<string, unknown> = {}) => ({
  method: 'POST' as const,
  url: '/order-status',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: userId, ...extra }),
});
const post = (url: string, body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': 'application/json', ...headers },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

interface Answer {
  outcome: string;
  trace_id: string;
  conversation_id: string;
  interaction_id: string;
}

async function answer(app: FastifyInstance, userId = 'usr_q_01', extra: Record<string, unknown> = {}): Promise<Answer> {
  const res = await app.inject(ask(userId, extra));
  expect(res.statusCode).toBe(200);
  return res.json();
}

const named = (name: string) => tracing.spans().filter((s) => s.name === name);
const inTrace = (traceId: string, name: string) => {
  const span = tracing.spans().find((s) => s.spanContext().traceId === traceId && s.name === name);
  if (!span) throw new Error(`no ${name} in ${traceId}`);
  return span;
};
const SECTION_5 = (sessionId: string, userId: string, traceName: string, tags: string[]) => ({
  'langfuse.session.id': sessionId,
  'langfuse.user.id': userId,
  'langfuse.trace.name': traceName,
  'langfuse.version': '0.1.0',
  'langfuse.trace.tags': tags,
  'langfuse.trace.metadata.environment': 'development',
  'langfuse.trace.metadata.workflow': 'order-status',
  'langfuse.trace.metadata.region': 'eu',
});

describe('/order-status: interaction id and deterministic scores', () => {
  it('every 200 carries an interaction_id (≤ 512 chars), answered or escalated', async () => {
    const { app } = await build({ scoreSink: recordingScoreSink() });
    for (const extra of [{}, { order_reference: 'ORDER-404' }, { order_reference: 'ORDER-7001' }]) {
      const body = await answer(app, 'usr_q_01', extra);
      expect(body.interaction_id).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(body.interaction_id.length).toBeLessThanOrEqual(512);
    }
  });

  it('queues answer_correctness and policy_compliance on the generation of every answered run', async () => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    const body = await answer(app);
    const generation = inTrace(body.trace_id, 'openai.responses.create').spanContext().spanId;
    expect(scores.scores).toEqual([
      {
        id: `${body.trace_id}:answer_correctness`,
        name: 'answer_correctness',
        value: 1,
        dataType: 'BOOLEAN',
        traceId: body.trace_id,
        observationId: generation,
        comment: 'rubric=answer-correctness-v1',
        environment: 'development',
      },
      {
        id: `${body.trace_id}:policy_compliance`,
        name: 'policy_compliance',
        value: 'pass',
        dataType: 'CATEGORICAL',
        traceId: body.trace_id,
        observationId: generation,
        comment: 'rubric=policy-compliance-v1',
        environment: 'development',
      },
    ]);
  });

  it('scores what the answer says: a model naming the wrong state and an unretrieved policy scores 0 / fail', async () => {
    const wrong: AnswerModel = {
      api: 'responses',
      serverAddress: 'test',
      offline: true,
      generate: async () => ({ text: 'Your order was delivered, see policy-us-refunds-v8.', responseModel: 'test' }),
    };
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores, model: wrong });
    await answer(app);
    expect(scores.scores.map((s) => [s.name, s.value, s.metadata])).toEqual([
      ['answer_correctness', 0, undefined],
      ['policy_compliance', 'fail', { violations: ['unretrieved_policy_document'] }],
    ]);
  });

  it('queues no check for a run that did not answer (escalated)', async () => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    expect((await answer(app, 'usr_q_01', { order_reference: 'ORDER-404' })).outcome).toBe('escalated');
    expect(scores.scores).toEqual([]);
  });
});

describe('POST /feedback', () => {
  it('202 with the score id; the user_feedback score on the generation; the span linked to the answer', async () => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    const body = await answer(app, 'usr_q_01', { conversation_id: 'conv_feedback_1' });
    const generation = inTrace(body.trace_id, 'openai.responses.create').spanContext().spanId;
    scores.scores.length = 0;

    const res = await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_q_01', value: 'negative' }));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'accepted', score_id: `${body.trace_id}:user_feedback` });
    expect(scores.scores).toEqual([
      {
        id: `${body.trace_id}:user_feedback`,
        name: 'user_feedback',
        value: 'negative',
        dataType: 'CATEGORICAL',
        traceId: body.trace_id,
        observationId: generation,
        comment: 'rubric=user-feedback-v1',
        environment: 'development',
        metadata: { feedback_type: 'user_rating', source: 'api', agent_version: '0.1.0' },
      },
    ]);

    const [span] = named('feedback.record user_rating') as [ReadableSpan];
    expect(span.attributes).toMatchObject({
      'app.feedback.type': 'user_rating',
      'app.feedback.value': 'negative',
      'app.feedback.agent_version': '0.1.0',
      'app.feedback.source': 'api',
      ...SECTION_5('conv_feedback_1', 'usr_q_01', 'order-status-feedback', ['order-status', 'feedback', 'http']),
    });
    expect(span.links).toEqual([{ context: expect.objectContaining({ traceId: body.trace_id, spanId: generation }), attributes: { 'app.link.type': 'interaction' } }]);
    // Its own trace (the feedback request's), under the HTTP span, which carries the same context.
    const http = spanNamed(tracing.spans(), 'POST /feedback');
    expect(http.kind).toBe(SpanKind.SERVER);
    expect(parentId(span)).toBe(http.spanContext().spanId);
    expect(span.spanContext().traceId).not.toBe(body.trace_id);
    expect(http.attributes).toMatchObject(SECTION_5('conv_feedback_1', 'usr_q_01', 'order-status-feedback', ['order-status', 'feedback', 'http']));
  });

  it('a second vote on the same answer reuses the score id (Langfuse overwrites: one vote per answer)', async () => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    const body = await answer(app);
    scores.scores.length = 0;
    for (const value of ['positive', 'negative']) {
      expect((await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_q_01', value }))).statusCode).toBe(202);
    }
    expect(scores.scores.map((s) => [s.id, s.value])).toEqual([
      [`${body.trace_id}:user_feedback`, 'positive'],
      [`${body.trace_id}:user_feedback`, 'negative'],
    ]);
  });

  it('on an answer with no model call (escalated) the score goes on the trace and the link to the run', async () => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    const body = await answer(app, 'usr_q_01', { order_reference: 'ORDER-404' });
    const run = inTrace(body.trace_id, 'invoke_agent order-status').spanContext().spanId;
    expect((await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_q_01', value: 'positive' }))).statusCode).toBe(202);
    expect(scores.scores).toHaveLength(1);
    expect(scores.scores[0]).toMatchObject({ traceId: body.trace_id, name: 'user_feedback' });
    expect(scores.scores[0]).not.toHaveProperty('observationId');
    expect(named('feedback.record user_rating')[0]?.links[0]?.context).toMatchObject({ traceId: body.trace_id, spanId: run });
  });
});

describe('POST /signals', () => {
  it.each([
    ['repeated_question', undefined],
    ['user_reformulated_request', undefined],
    ['conversation_abandoned', 'abandoned'],
    ['human_takeover', 'escalated'],
  ])('%s → 202, a `signal.record` span; session_resolution %s', async (signal, resolution) => {
    const scores = recordingScoreSink();
    const { app } = await build({ scoreSink: scores });
    const body = await answer(app, 'usr_q_02', { conversation_id: 'conv_signal_1' });
    const generation = inTrace(body.trace_id, 'openai.responses.create').spanContext().spanId;
    scores.scores.length = 0;
    const res = await app.inject(post('/signals', { interaction_id: body.interaction_id, user_id: 'usr_q_02', signal }));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'accepted' });
    const [span] = named(`signal.record ${signal}`) as [ReadableSpan];
    expect(span.attributes).toMatchObject({
      'app.signal.name': signal,
      'app.signal.source': 'api',
      'app.signal.agent_version': '0.1.0',
      'app.signal.used_for': 'triage_selector',
      ...SECTION_5('conv_signal_1', 'usr_q_02', 'order-status-signal', ['order-status', 'negative-signal', 'http']),
    });
    expect(span.links[0]?.context).toMatchObject({ traceId: body.trace_id, spanId: generation });
    expect(scores.scores).toEqual(
      resolution
        ? [
            {
              id: 'conv_signal_1:session_resolution',
              name: 'session_resolution',
              value: resolution,
              dataType: 'CATEGORICAL',
              sessionId: 'conv_signal_1',
              comment: 'rubric=session-resolution-v1',
              environment: 'development',
              metadata: { signal, source: 'api', agent_version: '0.1.0' },
            },
          ]
        : [],
    );
  });
});

describe('refused feedback and signals record nothing', () => {
  const recorded = () => tracing.spans().filter((s) => s.name.startsWith('feedback.record') || s.name.startsWith('signal.record'));

  async function setup(options: Parameters<typeof build>[0] = {}) {
    const scores = recordingScoreSink();
    const service = await build({ scoreSink: scores, ...options });
    const body = await answer(service.app, 'usr_owner');
    scores.scores.length = 0;
    return { ...service, scores, body };
  }

  const forge = (id: string) => {
    const [payload, signature] = id.split('.') as [string, string];
    const bytes = Buffer.from(payload, 'base64url');
    bytes.writeUInt8((bytes.at(-1) as number) ^ 1, bytes.length - 1);
    return `${bytes.toString('base64url')}.${signature}`;
  };

  it.each([
    ['/feedback', { user_id: 'usr_owner', value: 'positive' }, 'interaction_id'],
    ['/feedback', { value: 'positive' }, 'user_id'],
    ['/feedback', { user_id: 'usr_owner' }, 'value'],
    ['/feedback', { user_id: 'usr_owner', value: 'meh' }, 'value'],
    ['/feedback', { user_id: 'usr_owner', value: 'negative', comment: 'free text is content' }, 'comment'],
    ['/feedback', { user_id: 'usr_owner', value: 1 }, 'value'],
    ['/feedback', { user_id: 'a@b.example', value: 'positive' }, 'user_id'],
    ['/signals', { user_id: 'usr_owner', signal: 'angry' }, 'signal'],
    ['/signals', { user_id: 'usr_owner' }, 'signal'],
    ['/signals', { user_id: 'usr_owner', signal: 'human_takeover', value: 'positive' }, 'value'],
  ])('%s %o → 400 naming %s', async (url, fields, field) => {
    const { app, scores, body } = await setup();
    const payload = { ...(field === 'interaction_id' ? {} : { interaction_id: body.interaction_id }), ...fields };
    const res = await app.inject(post(url, payload));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field });
    expect(recorded()).toEqual([]);
    expect(scores.scores).toEqual([]);
  });

  it.each([
    ['a forged id', (id: string) => forge(id)],
    ['a malformed id', () => 'not-an-interaction-id'],
    ['an empty id', () => ''],
    ['a number', () => 42],
  ])('%s → 400', async (_case, make) => {
    const { app, scores, body } = await setup();
    for (const [url, extra] of [
      ['/feedback', { value: 'positive' }],
      ['/signals', { signal: 'human_takeover' }],
    ] as const) {
      const res = await app.inject(post(url, { interaction_id: make(body.interaction_id), user_id: 'usr_owner', ...extra }));
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe(typeof make(body.interaction_id) === 'number' ? 'invalid_request' : 'invalid_interaction_id');
      expect(res.json().error.field).toBe('interaction_id');
    }
    expect(recorded()).toEqual([]);
    expect(scores.scores).toEqual([]);
  });

  it('an id minted by another service instance with another key → 400 invalid_interaction_id', async () => {
    const { app, scores } = await setup();
    const other = await build({ scoreSink: recordingScoreSink() });
    const foreign = await answer(other.app, 'usr_owner');
    const res = await app.inject(post('/feedback', { interaction_id: foreign.interaction_id, user_id: 'usr_owner', value: 'positive' }));
    expect(res.json().error.code).toBe('invalid_interaction_id');
    expect(scores.scores).toEqual([]);
  });

  it('an expired id → 400 invalid_interaction_id saying it expired', async () => {
    let now = Date.now();
    const { app, scores, body } = await setup({ clock: { now: () => now }, env: { INTERACTION_TTL_SECONDS: '60' } });
    now += 61_000;
    const res = await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_owner', value: 'positive' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_interaction_id', field: 'interaction_id' });
    expect(res.json().error.message).toContain('expired');
    expect(recorded()).toEqual([]);
    expect(scores.scores).toEqual([]);
  });

  it("another user's interaction → 403 forbidden", async () => {
    const { app, scores, body } = await setup();
    for (const [url, extra] of [
      ['/feedback', { value: 'negative' }],
      ['/signals', { signal: 'conversation_abandoned' }],
    ] as const) {
      const res = await app.inject(post(url, { interaction_id: body.interaction_id, user_id: 'usr_intruder', ...extra }));
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatchObject({ code: 'forbidden', field: 'user_id' });
    }
    expect(recorded()).toEqual([]);
    expect(scores.scores).toEqual([]);
  });

  it('non-JSON → 415 / 400, nothing recorded', async () => {
    const { app, scores, body } = await setup();
    const text = await app.inject({ method: 'POST', url: '/feedback', headers: { 'content-type': 'text/plain' }, payload: 'positive' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');
    const broken = await app.inject(post('/signals', `{"interaction_id":"${body.interaction_id}","user_id":"usr_owner",`));
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('invalid_json');
    expect(recorded()).toEqual([]);
    expect(scores.scores).toEqual([]);
  });
});

describe('same protections as /order-status', () => {
  it('bearer keys: 401 without, 202 with', async () => {
    const key = 'k'.repeat(24);
    const { app } = await build({ scoreSink: recordingScoreSink(), env: { SERVICE_API_KEYS: key } });
    const res = await app.inject({ ...ask(), headers: { ...ask().headers, authorization: `Bearer ${key}` } });
    const { interaction_id: interactionId } = res.json() as Answer;
    for (const [url, extra] of [
      ['/feedback', { value: 'positive' }],
      ['/signals', { signal: 'repeated_question' }],
    ] as const) {
      const payload = { interaction_id: interactionId, user_id: 'usr_q_01', ...extra };
      expect((await app.inject(post(url, payload))).statusCode).toBe(401);
      expect((await app.inject(post(url, payload, { authorization: `Bearer ${key}` }))).statusCode).toBe(202);
    }
  });

  it('rate limited per end user (not per API key): 429 rate_limited with Retry-After', async () => {
    const key = 'k'.repeat(24);
    const auth = { authorization: `Bearer ${key}` };
    const { app } = await build({ scoreSink: recordingScoreSink(), env: { RATE_LIMIT_PER_USER_PER_MINUTE: '3', SERVICE_API_KEYS: key } });
    const ask2 = (userId: string) => app.inject({ ...ask(userId), headers: { ...ask(userId).headers, ...auth } });
    const { interaction_id: interactionId } = (await ask2('usr_busy')).json() as Answer;
    const rate = () => app.inject(post('/feedback', { interaction_id: interactionId, user_id: 'usr_busy', value: 'positive' }, auth));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await rate()).statusCode);
    // The /order-status request and the votes share the user's bucket.
    expect(statuses).toEqual([202, 202, 429]);
    const limited = await rate();
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBeDefined();
    // Another user behind the same API key is not affected.
    const other = (await ask2('usr_calm')).json() as Answer;
    expect((await app.inject(post('/feedback', { interaction_id: other.interaction_id, user_id: 'usr_calm', value: 'positive' }, auth))).statusCode).toBe(202);
  });

  it('shares the in-flight limit: 503 overloaded while /order-status holds the only slot', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const offline = new OfflineAnswerModel();
    let calls = 0;
    const slow: AnswerModel = {
      api: 'responses',
      serverAddress: 'test',
      offline: true,
      generate: async (request) => {
        calls += 1;
        if (calls > 1) await gate;
        return offline.generate(request);
      },
    };
    const { app } = await build({ scoreSink: recordingScoreSink(), model: slow, env: { MAX_CONCURRENT_REQUESTS: '1' } });
    const first = await answer(app);
    const held = app.inject(ask());
    await new Promise((r) => setTimeout(r, 50));
    const res = await app.inject(post('/feedback', { interaction_id: first.interaction_id, user_id: 'usr_q_01', value: 'positive' }));
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('overloaded');
    release();
    expect((await held).statusCode).toBe(200);
  });

  it('documents both routes in the OpenAPI spec from their zod schemas', async () => {
    const { app } = await build({ scoreSink: recordingScoreSink() });
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const feedback = spec.paths['/feedback'].post;
    const signals = spec.paths['/signals'].post;
    expect(feedback.requestBody.content['application/json'].schema.properties.value.enum).toEqual(['positive', 'negative']);
    expect(signals.requestBody.content['application/json'].schema.properties.signal.enum).toEqual([
      'repeated_question',
      'user_reformulated_request',
      'conversation_abandoned',
      'human_takeover',
    ]);
    expect(Object.keys(feedback.responses)).toEqual(expect.arrayContaining(['202', '400', '403']));
    expect(spec.paths['/order-status'].post.responses['200'].content['application/json'].schema.required).toContain('interaction_id');
  });
});

describe('delivery to Langfuse never holds a request', () => {
  let langfuse: LangfuseStandIn;
  beforeAll(async () => {
    langfuse = await startSeededLangfuse('pk-lf-http', 'sk-lf-http');
  });
  afterAll(() => langfuse.close());

  it('answers 202 at once while Langfuse hangs, and the score arrives after it recovers', async () => {
    const { app, runtime } = await build({
      env: {
        LANGFUSE_PUBLIC_KEY: 'pk-lf-http',
        LANGFUSE_SECRET_KEY: 'sk-lf-http',
        LANGFUSE_BASE_URL: langfuse.baseUrl,
        SCORE_REQUEST_TIMEOUT_MS: '300',
        SCORE_RETRY_MAX_DELAY_MS: '200',
      },
    });
    expect(runtime.scores.sending).toBe(true);
    const body = await answer(app);
    langfuse.setFault('hang');
    const started = performance.now();
    const res = await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_q_01', value: 'positive' }));
    expect(res.statusCode).toBe(202);
    expect(performance.now() - started).toBeLessThan(250);
    await langfuse.quality.waitFor(() => runtime.scores.stats().retries >= 1, 'a retry');
    expect(langfuse.quality.scores.has(`${body.trace_id}:user_feedback`)).toBe(false);
    langfuse.setFault(null);
    await langfuse.quality.waitFor(() => langfuse.quality.scores.has(`${body.trace_id}:user_feedback`), 'the feedback score');
    expect(langfuse.quality.scores.get(`${body.trace_id}:user_feedback`)).toMatchObject({ stringValue: 'positive', environment: 'development', observationId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    await langfuse.quality.waitFor(() => langfuse.quality.scores.has(`${body.trace_id}:answer_correctness`), 'the check scores');
  });

  it('sends nothing in local prompt mode', async () => {
    const { runtime, app } = await build({ env: { LANGFUSE_BASE_URL: langfuse.baseUrl } });
    expect(runtime.scores.sending).toBe(false);
    const body = await answer(app);
    expect((await app.inject(post('/feedback', { interaction_id: body.interaction_id, user_id: 'usr_q_01', value: 'positive' }))).statusCode).toBe(202);
    expect(runtime.scores.stats()).toMatchObject({ notSent: 3, queued: 0 });
  });
});
