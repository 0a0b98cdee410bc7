import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { build } from './support/build.js';
import type { LangfuseFault, LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { spanNamed, testTracing } from './support/telemetry.js';

/** Faults injected through the stand-ins; assertions on what the caller sees and what the trace shows. */
const tracing = testTracing();
let langfuse: LangfusePromptStandIn;
let openai: OpenAIStandIn;

beforeAll(async () => {
  langfuse = await startSeededLangfuse('pk-f', 'sk-f');
  openai = await startOpenAIStandIn({ apiKey: 'sk-f' });
});
afterAll(async () => Promise.all([langfuse.close(), openai.close()]));
beforeEach(async () => {
  tracing.reset();
  langfuse.setFault(null);
  if (!langfuse.listening) await langfuse.startListening();
  openai.clearFaults();
  openai.clearRequests();
  openai.setLatencyMs(0);
});

const env = (extra: Record<string, string> = {}) => ({
  LANGFUSE_PUBLIC_KEY: 'pk-f',
  LANGFUSE_SECRET_KEY: 'sk-f',
  LANGFUSE_BASE_URL: langfuse.baseUrl,
  OPENAI_API_KEY: 'sk-f',
  OPENAI_BASE_URL: openai.baseURL,
  PROMPT_CACHE_TTL_SECONDS: '60',
  PROMPT_FETCH_TIMEOUT_MS: '300',
  PROMPT_MAX_STALE_SECONDS: '600',
  OPENAI_TIMEOUT_MS: '1000',
  ...extra,
});
const API_KEY = 'key-integration-0123456789';
const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_fault_01' };
const post = (payload: object = body) => ({ method: 'POST' as const, url: '/order-status', payload });

function movableClock() {
  let now = Date.now();
  return { clock: { now: () => now }, advance: (seconds: number) => (now += seconds * 1000) };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const result = await fn();
  return [result, performance.now() - t];
}

describe('Langfuse faults after warm-up: answered from cache, without waiting', () => {
  const faults: [string, LangfuseFault | 'refused', string][] = [
    ['hang', 'hang', 'TimeoutError'],
    ['HTTP 500', { status: 500 }, 'LangfuseServerError'],
    ['bad JSON', 'bad-json', 'InvalidPromptResponseError'],
    ['refused connection', 'refused', 'ConnectionError'],
  ];

  it.each(faults)('%s', async (_name, fault, errorType) => {
    const { clock, advance } = movableClock();
    const { app, runtime } = await build({ env: env(), clock });
    expect((await app.inject(post())).json().prompt.source).toBe('langfuse');

    if (fault === 'refused') await langfuse.stopListening();
    else langfuse.setFault(fault);
    advance(61); // past the TTL: the next request triggers a refresh, which fails

    const [first, firstMs] = await timed(() => app.inject(post()));
    expect(first.statusCode).toBe(200);
    expect(first.json().prompt).toMatchObject({ source: 'cache', version: 1 });
    expect(firstMs).toBeLessThan(250); // did not wait for the (hanging) refresh
    await runtime.prompts.refreshDue(); // let the refresh finish failing

    tracing.reset();
    const second = await app.inject(post());
    expect(second.json().prompt.source).toBe('cache');
    const compose = spanNamed(tracing.spans(), 'workflow.node compose_answer');
    expect(compose.attributes).toMatchObject({ 'app.prompt.fetch.source': 'cache', 'app.prompt.fetch.error_type': errorType });
    expect(compose.events.find((e) => e.name === 'prompt.cache_fallback')?.attributes).toEqual({ 'app.prompt.label': 'production', 'error.type': errorType });
    // Langfuse drops span events: the fallback must show in what it keeps.
    expect(compose.attributes).toMatchObject({
      'langfuse.observation.level': 'WARNING',
      'langfuse.observation.status_message': `prompt served from cache: ${errorType}`,
    });

    // Langfuse comes back: recovered without a restart.
    langfuse.setFault(null);
    if (!langfuse.listening) await langfuse.startListening();
    await runtime.prompts.refreshDue();
    expect((await app.inject(post())).json().prompt.source).toBe('langfuse');
  });

  it('fails closed once the cache is stale past PROMPT_MAX_STALE_SECONDS', async () => {
    const { clock, advance } = movableClock();
    const { app } = await build({ env: env(), clock });
    await app.inject(post());
    langfuse.setFault({ status: 503 });
    advance(601);
    const res = await app.inject(post());
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('prompt_unavailable');
  });
});

describe('Langfuse down on a cold start', () => {
  it('answers a fast 503 with no model call, and recovers without a restart', async () => {
    await langfuse.stopListening();
    const { app } = await build({ env: env() });
    const [res, ms] = await timed(() => app.inject(post()));
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('prompt_unavailable');
    expect(ms).toBeLessThan(1_000);
    expect(openai.requests).toHaveLength(0);
    expect((await app.inject('/readyz')).statusCode).toBe(503);

    await langfuse.startListening();
    expect((await app.inject(post())).statusCode).toBe(200);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('a hanging Langfuse costs at most the fetch timeout', async () => {
    langfuse.setFault('hang');
    const { app } = await build({ env: env(), warm: false });
    const [res, ms] = await timed(() => app.inject(post()));
    expect(res.statusCode).toBe(503);
    expect(ms).toBeLessThan(800);
  });
});

describe('OpenAI faults', () => {
  it('retries a reset connection and a 503, recording each retry on the model span', async () => {
    openai.queueFault('reset');
    openai.queueFault({ status: 503 });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '2' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes['app.retry.final_attempt']).toBe(3);
    expect(span.events.filter((e) => e.name === 'model.retry').map((e) => e.attributes?.['app.retry.retryable'])).toEqual([true, true]);
    expect(span.attributes).toMatchObject({ 'langfuse.observation.level': 'WARNING', 'langfuse.observation.status_message': 'retried after InternalServerError' });
  });

  it('leaves the observation level alone on a first-attempt success', async () => {
    const { app } = await build({ env: env() });
    expect((await app.inject(post())).statusCode).toBe(200);
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes['langfuse.observation.level']).toBeUndefined();
    expect(span.attributes['langfuse.observation.status_message']).toBeUndefined();
  });

  it('does not retry a non-retryable 400', async () => {
    openai.queueFault({ status: 400 });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '2' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(502);
    expect(res.json().error.code).toBe('model_error');
    expect(openai.requests).toHaveLength(1);
  });

  it('answers 503 model_rate_limited when 429s outlast the retries, never hanging', async () => {
    openai.setFault({ status: 429, headers: { 'retry-after': '0' } });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '2' }) });
    const [res, ms] = await timed(() => app.inject(post()));
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('model_rate_limited');
    expect(res.headers['retry-after']).toBeDefined();
    expect(openai.requests).toHaveLength(3);
    expect(ms).toBeLessThan(5_000);
  });

  it('gives up within the per-request deadline even when retry-after asks for longer', async () => {
    openai.setFault({ status: 429, headers: { 'retry-after': '30' } });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '5', OPENAI_REQUEST_TIMEOUT_MS: '2000' }) });
    const [res, ms] = await timed(() => app.inject(post()));
    expect(res.statusCode).toBe(503);
    expect(ms).toBeLessThan(1_000);
  });

  it('falls back to OPENAI_FALLBACK_MODEL when the primary stays rate limited', async () => {
    openai.queueFault({ status: 429, headers: { 'retry-after-ms': '10' } });
    openai.queueFault({ status: 429, headers: { 'retry-after-ms': '10' } });
    const { app } = await build({ env: env({ OPENAI_MAX_RETRIES: '1', OPENAI_FALLBACK_MODEL: 'gpt-4o-mini-fallback' }) });
    const res = await app.inject(post());
    expect(res.statusCode).toBe(200);
    expect((openai.requests.at(-1)?.body as { model: string }).model).toBe('gpt-4o-mini-fallback');
    const span = spanNamed(tracing.spans(), 'openai.responses.create');
    expect(span.attributes).toMatchObject({ 'app.model.fallback.used': true, 'app.model.fallback.reason': 'rate_limit', 'gen_ai.request.model': 'gpt-4o-mini-fallback' });
    expect(span.events.map((e) => e.name)).toContain('model.fallback');
    expect(span.attributes).toMatchObject({ 'langfuse.observation.level': 'WARNING', 'langfuse.observation.status_message': 'fell back to gpt-4o-mini-fallback: rate_limit' });
  });

});

describe('overload and rate limits', () => {
  it('sheds load past MAX_CONCURRENT_REQUESTS with 503 + Retry-After', async () => {
    openai.setLatencyMs(400);
    const { app } = await build({ env: env({ MAX_CONCURRENT_REQUESTS: '2' }) });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => app.inject(post({ ...body, user_id: `usr_load_${i}` }))));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 200, 503, 503, 503]);
    const shed = results.find((r) => r.statusCode === 503);
    expect(shed?.headers['retry-after']).toBe('1');
    expect(shed?.json().error.code).toBe('overloaded');
    expect((await app.inject(post())).statusCode).toBe(200);
  });

  it('rate-limits per user with 429 and rate-limit headers, also behind an API key', async () => {
    const auth = { authorization: `Bearer ${API_KEY}` };
    const { app } = await build({ env: env({ RATE_LIMIT_PER_USER_PER_MINUTE: '3', SERVICE_API_KEYS: API_KEY }) });
    const codes = [];
    for (let i = 0; i < 4; i += 1) codes.push((await app.inject({ ...post(), headers: auth })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await app.inject({ ...post(), headers: auth });
    expect(limited.json().error.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-limit']).toBe('3');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    // Same key, another end user: a fresh bucket.
    expect((await app.inject({ ...post({ ...body, user_id: 'usr_other' }), headers: auth })).statusCode).toBe(200);
  });

  it('never caps one API key serving many users: 500 users through one key, default limits, no 429', async () => {
    const auth = { authorization: `Bearer ${API_KEY}` };
    const { app } = await build({ env: env({ SERVICE_API_KEYS: API_KEY }) });
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 10; batch += 1) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => app.inject({ ...post({ ...body, user_id: `usr_integration_${batch * 50 + i}` }), headers: auth })),
      );
      for (const r of results) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 500 });
  });
});
