import { Writable } from 'node:stream';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { fixedAnswerModel } from './support/models.js';
import { CapturePolicy, redactText } from '../src/telemetry/capture-policy.js';
import { build } from './support/build.js';
import { spanNamed, testTracing } from './support/telemetry.js';

const tracing = testTracing();
beforeEach(() => tracing.reset());

const body = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_sec_01' };

describe('bad input never causes a 5xx', () => {
  it('survives arbitrary JSON and strings, and stays healthy', async () => {
    const { app } = await build();
    const anyBody = fc.oneof(
      fc.json(),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ query: fc.anything(), order_reference: fc.anything(), region: fc.anything(), user_id: fc.anything() }).map((v) => JSON.stringify(v)),
      fc.dictionary(fc.string(), fc.jsonValue()).map((v) => JSON.stringify({ ...body, ...v })),
    );
    await fc.assert(
      fc.asyncProperty(anyBody, async (payload) => {
        const res = await app.inject({ method: 'POST', url: '/order-status', headers: { 'content-type': 'application/json' }, payload });
        expect(res.statusCode, `payload ${payload.slice(0, 200)} → ${res.body}`).toBeLessThan(500);
        expect(res.json()).toBeTypeOf('object');
      }),
      { numRuns: 300 },
    );
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/order-status', payload: body })).statusCode).toBe(200);
  });

  it('answers valid-but-odd input (unicode, template syntax, max lengths) without a 5xx', async () => {
    const { app } = await build();
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 2_000, unit: 'binary' }), async (query) => {
        const res = await app.inject({ method: 'POST', url: '/order-status', payload: { ...body, query } });
        expect(res.statusCode).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
  });
});

describe('content capture policy', () => {
  const FORBIDDEN = ['person@example.invalid', 'ORDER-CANARY-0001'];
  const canaryQuery = 'Email person@example.invalid about ORDER-CANARY-0001';

  it('metadata_only (default) exports no raw query, prompt or answer text', async () => {
    const { app } = await build();
    const res = await app.inject({ method: 'POST', url: '/order-status', payload: { ...body, query: canaryQuery } });
    expect(res.statusCode).toBe(200);
    const exported = JSON.stringify(tracing.spans().map((s) => [s.name, s.attributes, s.events]));
    for (const value of [...FORBIDDEN, res.json().answer, 'You are a support assistant']) expect(exported).not.toContain(value);
    expect(spanNamed(tracing.spans(), 'workflow.node compose_answer').attributes).toMatchObject({
      'app.capture.mode': 'metadata_only',
      'app.capture.policy_version': 'capture-policy-1',
    });
  });

  it('redacted exports only a redacted preview of the answer', async () => {
    // A model that echoes the canaries, so redaction (not the offline model's wording) keeps them out.
    const model = fixedAnswerModel('Your order is on its way; we wrote to person@example.invalid about ORDER-CANARY-0001.');
    const { app } = await build({ env: { CAPTURE_MODE: 'redacted' }, model });
    await app.inject({ method: 'POST', url: '/order-status', payload: { ...body, query: canaryQuery } });
    const compose = spanNamed(tracing.spans(), 'workflow.node compose_answer');
    expect(compose.attributes['app.capture.mode']).toBe('redacted');
    expect(compose.attributes['app.capture.answer_preview']).toBe('Your order is on its way; we wrote to [email] about [order_id].');
    const exported = JSON.stringify(tracing.spans().map((s) => [s.attributes, s.events]));
    for (const value of FORBIDDEN) expect(exported).not.toContain(value);
  });

  it('redaction removes emails and order references, and fails closed when it cannot', () => {
    const projected = new CapturePolicy('redacted').project('Email person@example.invalid about ORDER-CANARY-0001');
    for (const value of FORBIDDEN) expect(JSON.stringify(projected)).not.toContain(value);
    expect(redactText('call 0123456789 re ORDER-1')).toBe('call [number] re [order_id]');
    expect(new CapturePolicy('metadata_only').project('anything')).toEqual({ capture_mode: 'metadata_only', capture_policy_version: 'capture-policy-1' });
  });
});

describe('secrets', () => {
  it('never puts API keys or Langfuse secrets in spans, responses or logs', async () => {
    const key = 'svc-key-0123456789abcdef';
    const { app } = await build({ env: { SERVICE_API_KEYS: key } });
    const ok = await app.inject({ method: 'POST', url: '/order-status', payload: body, headers: { authorization: `Bearer ${key}` } });
    const denied = await app.inject({ method: 'POST', url: '/order-status', payload: body, headers: { authorization: 'Bearer guess-guess-guess-guess' } });
    expect(ok.statusCode).toBe(200);
    for (const text of [JSON.stringify(tracing.spans().map((s) => s.attributes)), ok.body, denied.body]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain('guess-guess');
    }
  });

  it('pino redacts authorization headers and keys', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = createLogger('info', sink);
    logger.info({ req: { headers: { authorization: 'Bearer top-secret' } }, apiKey: 'sk-live-secret', langfuse: { secretKey: 'sk-lf-secret' } }, 'hello');
    expect(lines.join('')).not.toMatch(/top-secret|sk-live-secret|sk-lf-secret/);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('sends security headers', async () => {
    const { app } = await build();
    const res = await app.inject('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['strict-transport-security']).toBeDefined();
  });
});
