import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyScoreError, langfuseScoreTransport } from '../src/quality/langfuse-score-transport.js';
import { QueuedScoreSink, type ScoreBody, type ScoreObserver } from '../src/quality/score-sink.js';
import { startLangfuseStandIn, TARGET_MESSAGE, type LangfuseStandIn } from './support/langfuse-quality-stand-in.js';

/** The sink as the service builds it: @langfuse/client → POST /api/public/scores on the stand-in. */
let langfuse: LangfuseStandIn;
beforeAll(async () => {
  langfuse = await startLangfuseStandIn({ publicKey: 'pk-lf-sink', secretKey: 'sk-lf-sink' });
});
afterAll(() => langfuse.close());
afterEach(async () => {
  langfuse.setFault(null);
  await langfuse.startListening();
  langfuse.quality.reset();
});

function logLines() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function sink(options: { capacity?: number; concurrency?: number; timeoutMs?: number; maxDelayMs?: number; observer?: ScoreObserver; keys?: [string, string] } = {}) {
  const { logger, lines } = logLines();
  const [publicKey, secretKey] = options.keys ?? ['pk-lf-sink', 'sk-lf-sink'];
  const s = new QueuedScoreSink({
    transport: langfuseScoreTransport({ publicKey, secretKey, baseUrl: langfuse.baseUrl, requestTimeoutMs: options.timeoutMs ?? 2_000 }),
    logger,
    capacity: options.capacity ?? 100,
    concurrency: options.concurrency ?? 4,
    baseDelayMs: 20,
    maxDelayMs: options.maxDelayMs ?? 100,
    observer: options.observer,
  });
  return { sink: s, lines };
}

const score = (n: number, extra: Partial<ScoreBody> = {}): ScoreBody => ({
  id: `trace${n}:user_feedback`,
  name: 'user_feedback',
  value: 'positive',
  dataType: 'CATEGORICAL',
  traceId: `${String(n).padStart(32, '0')}`,
  comment: 'rubric=user-feedback-v1',
  environment: 'test',
  ...extra,
});

describe('score sink → Langfuse POST /api/public/scores', () => {
  it('delivers in the background, with Basic auth and the body as given', async () => {
    const seen: [string, string][] = [];
    const { sink: s } = sink({ observer: (sc, outcome) => seen.push([sc.name, outcome]) });
    expect(s.enqueue(score(1, { observationId: '00f067aa0ba902b7' }))).toBe('queued');
    expect(await s.flush(5_000)).toBe(true);
    expect(langfuse.quality.scores.get('trace1:user_feedback')).toMatchObject({
      name: 'user_feedback',
      dataType: 'CATEGORICAL',
      stringValue: 'positive',
      traceId: '00000000000000000000000000000001',
      observationId: '00f067aa0ba902b7',
      comment: 'rubric=user-feedback-v1',
      environment: 'test',
      source: 'API',
    });
    expect(s.stats()).toMatchObject({ queued: 1, delivered: 1, pending: 0 });
    expect(seen).toEqual([['user_feedback', 'queued']]);
  });

  it('gives every score an id, so a retried request cannot create a duplicate', async () => {
    const { sink: s } = sink();
    const { id: _id, ...noId } = score(2);
    s.enqueue(noId);
    await s.flush(5_000);
    const [stored] = [...langfuse.quality.scores.values()];
    expect(stored?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a newer score with a queued id replaces it: one request, the newest value (one vote per answer)', async () => {
    langfuse.setFault('hang');
    const { sink: s } = sink({ concurrency: 1, timeoutMs: 10_000 });
    s.enqueue(score(9)); // in flight, parked by the hanging stand-in
    s.enqueue(score(3, { value: 'positive' }));
    s.enqueue(score(3, { value: 'negative' }));
    expect(s.stats().pending).toBe(2);
    langfuse.setFault(null);
    await s.flush(5_000);
    expect(langfuse.quality.scores.get('trace3:user_feedback')).toMatchObject({ stringValue: 'negative', writes: 1 });
  });

  it.each([
    ['500', { status: 500 }],
    ['503 with retry-after', { status: 503, headers: { 'retry-after': '0' } }],
    ['429', { status: 429, body: { message: 'rate limited' } }],
    ['hang (timeout)', 'hang'],
    ['reset', 'reset'],
  ] as const)('retries with back-off through an outage (%s) and delivers after recovery', async (_case, fault) => {
    const { sink: s, lines } = sink({ timeoutMs: 300 });
    langfuse.setFault(fault as Parameters<typeof langfuse.setFault>[0]);
    for (let i = 0; i < 5; i++) s.enqueue(score(100 + i));
    await langfuse.quality.waitFor(() => s.stats().retries >= 3, 'retries');
    expect(langfuse.quality.scores.size).toBe(0);
    langfuse.setFault(null);
    expect(await s.flush(10_000)).toBe(true);
    expect(langfuse.quality.scores.size).toBe(5);
    expect(s.stats()).toMatchObject({ delivered: 5, rejected: 0, dropped: 0 });
    // One warning per outage and one recovery line, not one per attempt.
    expect(lines.filter((l) => l.msg.startsWith('score delivery failing'))).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'score delivery recovered')).toHaveLength(1);
  });

  it('retries while Langfuse is not listening at all (connection refused)', async () => {
    const { sink: s } = sink();
    await langfuse.stopListening();
    s.enqueue(score(200));
    await langfuse.quality.waitFor(() => s.stats().retries >= 2, 'retries');
    await langfuse.startListening();
    expect(await s.flush(10_000)).toBe(true);
    expect(langfuse.quality.scores.has('trace200:user_feedback')).toBe(true);
  });

  it('drops a score Langfuse refuses with a permanent 4xx, logs it once, and carries on', async () => {
    const { sink: s, lines } = sink();
    s.enqueue(score(300, { traceId: undefined }));
    s.enqueue(score(301, { traceId: undefined }));
    s.enqueue(score(302));
    await s.flush(5_000);
    expect(s.stats()).toMatchObject({ rejected: 2, delivered: 1, retries: 0 });
    const [rejected] = langfuse.quality.scoreRequests.filter((r) => r.status === 400);
    expect(rejected).toBeDefined();
    const refusal = lines.filter((l) => l.msg.startsWith('Langfuse rejected a score'));
    expect(refusal).toHaveLength(1);
    expect(refusal[0]).toMatchObject({ status: 400, score: 'user_feedback' });
    expect(String(refusal[0]?.err)).toContain('Invalid request data');
  });

  it('drops scores with wrong keys (401) as permanent', async () => {
    const { sink: s } = sink({ keys: ['pk-lf-sink', 'wrong'] });
    s.enqueue(score(310));
    await s.flush(5_000);
    expect(s.stats()).toMatchObject({ rejected: 1, delivered: 0 });
  });

  it('never blocks or grows past its bound: a full queue drops the newest score and counts it', async () => {
    langfuse.setFault('hang');
    const outcomes: string[] = [];
    const { sink: s, lines } = sink({ capacity: 3, concurrency: 1, timeoutMs: 10_000, observer: (_sc, o) => outcomes.push(o) });
    const started = performance.now();
    for (let i = 0; i < 10; i++) s.enqueue(score(400 + i));
    expect(performance.now() - started).toBeLessThan(50);
    expect(s.stats()).toMatchObject({ queued: 4, dropped: 6, pending: 4 });
    expect(outcomes.filter((o) => o === 'dropped')).toHaveLength(6);
    expect(lines.filter((l) => l.msg.startsWith('score dropped'))).toHaveLength(1);
    langfuse.setFault(null);
    await s.flush(5_000);
    // The first four (1 in flight + 3 queued) arrive; the six newest were dropped.
    expect([...langfuse.quality.scores.keys()].sort()).toEqual(['trace400:user_feedback', 'trace401:user_feedback', 'trace402:user_feedback', 'trace403:user_feedback']);
  });

  it('close() delivers what is queued within the deadline', async () => {
    const { sink: s } = sink({ maxDelayMs: 30_000 });
    langfuse.setFault({ status: 503 });
    for (let i = 0; i < 3; i++) s.enqueue(score(500 + i));
    await langfuse.quality.waitFor(() => s.stats().retries >= 1, 'a failure');
    setTimeout(() => langfuse.setFault(null), 200);
    // A long back-off is cut short on shutdown: delivered well before the 30 s max delay.
    const stats = await s.close(Date.now() + 5_000);
    expect(stats).toMatchObject({ delivered: 3, lost: 0, pending: 0 });
    expect(s.enqueue(score(999))).toBe('dropped');
  });

  it('close() gives up at the deadline and counts what it could not deliver as lost', async () => {
    const { sink: s, lines } = sink({ timeoutMs: 10_000 });
    langfuse.setFault('hang');
    for (let i = 0; i < 6; i++) s.enqueue(score(600 + i));
    const started = Date.now();
    const stats = await s.close(Date.now() + 300);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stats).toMatchObject({ delivered: 0, lost: 6, pending: 0 });
    expect(lines.some((l) => l.msg.startsWith('score delivery did not finish'))).toBe(true);
  });
});

describe('classifyScoreError', () => {
  it.each([
    [{ statusCode: 400, body: { message: TARGET_MESSAGE } }, false],
    [{ statusCode: 401 }, false],
    [{ statusCode: 404 }, false],
    [{ statusCode: 408 }, true],
    [{ statusCode: 429 }, true],
    [{ statusCode: 500 }, true],
    [{ statusCode: 503 }, true],
  ])('%o → retryable %s', (raw, retryable) => {
    expect(classifyScoreError(Object.assign(new Error('x'), raw)).retryable).toBe(retryable);
  });

  it('treats network errors and timeouts as retryable', () => {
    expect(classifyScoreError(new TypeError('fetch failed')).retryable).toBe(true);
    expect(classifyScoreError(Object.assign(new Error('t'), { name: 'TimeoutError' })).retryable).toBe(true);
  });
});
