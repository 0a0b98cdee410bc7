import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalWebhookDeliveries } from '../src/fleet/webhook-deliveries.js';
import { signLangfuseWebhook } from '../src/http/webhook-signature.js';
import { LangfusePromptSource } from '../src/prompts/langfuse-prompt-source.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { build } from './support/build.js';
import { promptVersionEvent, type PromptEventFields } from './support/langfuse-webhook.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';

/** `POST /webhooks/langfuse` (SPEC §11) in one process; the fleet-wide behaviour is in fleet-replicas.test.ts. */

const SECRET = `lf-whsec_${'4f'.repeat(32)}`;
const NOW = Date.parse('2026-11-29T12:00:00.000Z');
const clock = { now: () => NOW };
const T = NOW / 1000;

/** A fresh Langfuse per test, as `npm run prompts -- seed` leaves it: v1 production + prod-a, v2 prod-b. */
let langfuse: LangfusePromptStandIn;
beforeEach(async () => {
  langfuse = await startSeededLangfuse('pk-lf-webhook', 'sk-lf-webhook');
});
afterEach(() => langfuse.close());

const source = () =>
  new LangfusePromptSource({ publicKey: 'pk-lf-webhook', secretKey: 'sk-lf-webhook', baseUrl: langfuse.baseUrl, fetchTimeoutMs: 2_000 });

async function service(env: Record<string, string> = {}) {
  return build({
    env: { LANGFUSE_WEBHOOK_SECRET: SECRET, PROMPT_CACHE_TTL_SECONDS: '3600', PROMPT_MAX_STALE_SECONDS: '3600', ...env },
    promptSource: source(),
    clock,
  });
}

/** Langfuse's payload for a version whose labels changed (default: v2 now holds production and prod-b). */
const promptEvent = (fields: Partial<PromptEventFields> = {}): string =>
  promptVersionEvent({ version: 2, labels: ['production', 'prod-b'], at: NOW, ...fields });

const deliver = (app: FastifyInstance, body: string | Buffer, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/webhooks/langfuse', headers: { 'content-type': 'application/json', ...headers }, payload: body });

const signed = (body: string | Buffer, t = T, secret = SECRET) => ({ 'x-langfuse-signature': signLangfuseWebhook(secret, body, t) });

const orderStatus = (app: FastifyInstance) =>
  app.inject({
    method: 'POST',
    url: '/order-status',
    headers: { 'content-type': 'application/json' },
    payload: { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_webhook_01' },
  });

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('POST /webhooks/langfuse: a moved label is refetched at once', () => {
  it('accepts a prompt-version event, answers before the refetch, and serves the new version with a long TTL', async () => {
    const { app, runtime } = await service();
    expect((await orderStatus(app)).json().prompt).toMatchObject({ version: 1, label: 'production', source: 'langfuse' });

    langfuse.addLabels('order-status-answer', 2, ['production']);
    langfuse.clearRequests();
    langfuse.setDelayMs(300); // a slow Langfuse: the answer does not wait for the refetch
    const body = promptEvent();
    const accepted = await deliver(app, body, signed(body));
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toEqual({ status: 'accepted' });
    expect(runtime.prompts.servedVersions().production).toBe(1);
    await until(() => runtime.prompts.servedVersions().production === 2);
    expect((await orderStatus(app)).json().prompt).toMatchObject({ version: 2, label: 'production', source: 'langfuse' });
    // Only what this process serves: not prod-b (never asked for here), never `latest`.
    expect(langfuse.promptFetches('production')).toBe(1);
    expect(langfuse.promptFetches('prod-b')).toBe(0);
    expect(langfuse.promptFetches('latest')).toBe(0);
  });

  it("refetches a label this process serves from the event's version even when the event no longer lists it (the losing version)", async () => {
    const { app, runtime } = await service();
    await orderStatus(app);
    langfuse.addLabels('order-status-answer', 2, ['production']);
    // Langfuse's event for version 1, which just lost `production`.
    const body = promptEvent({ version: 1, labels: ['prod-a'] });
    expect((await deliver(app, body, signed(body))).json()).toEqual({ status: 'accepted' });
    await until(() => runtime.prompts.servedVersions().production === 2);
  });

  it('a deleted version: the refetch finds no label and the service fails closed (503 prompt_unavailable), never an old version', async () => {
    const { app, runtime } = await service();
    await orderStatus(app);
    const removed = await fetch(`${langfuse.baseUrl}/api/public/v2/prompts/order-status-answer?version=1`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${Buffer.from('pk-lf-webhook:sk-lf-webhook').toString('base64')}` },
    });
    expect(removed.status).toBe(204);
    const body = promptEvent({ version: 1, action: 'deleted', labels: ['production', 'prod-a'] });
    expect((await deliver(app, body, signed(body))).json()).toEqual({ status: 'accepted' });
    await until(() => runtime.prompts.servedVersions().production === undefined);
    const res = await orderStatus(app);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('prompt_unavailable');
  });

  it('verifies the raw bytes: whitespace, key order and escapes are signed as sent, not re-serialised', async () => {
    const { app } = await service();
    const body = `{ "id" : "${randomUUID()}",\n  "type":"prompt-version", "apiVersion":"v1","action":"updated",\n  "prompt": {"labels":["production"], "version": 2, "name":"order-status-\\u0061nswer"} }`;
    const res = await deliver(app, body, { ...signed(body), 'content-type': 'application/json; charset=utf-8' });
    expect(res.json()).toEqual({ status: 'accepted' });
  });
});

describe('POST /webhooks/langfuse: signature, replay window, size, de-duplication', () => {
  const HEX = 'ab'.repeat(32);

  it.each([
    ['missing', () => ({})],
    ['wrong secret', (body: string) => signed(body, T, `lf-whsec_${'00'.repeat(32)}`)],
    ['stale (301 s old)', (body: string) => signed(body, T - 301)],
    ['from the future (301 s ahead)', (body: string) => signed(body, T + 301)],
    ['body altered by one byte', (body: string) => signed(body.replace('"production"', '"productioN"'))],
    ['malformed: no timestamp', () => ({ 'x-langfuse-signature': `v1=${HEX}` })],
    ['malformed: no v1', () => ({ 'x-langfuse-signature': `t=${T}` })],
    ["malformed: the docs' s= key", (body: string) => ({ 'x-langfuse-signature': signLangfuseWebhook(SECRET, body, T).replace('v1=', 's=') })],
    ['malformed: not hex', () => ({ 'x-langfuse-signature': `t=${T},v1=${'zz'.repeat(32)}` })],
    ['malformed: short digest', (body: string) => ({ 'x-langfuse-signature': signLangfuseWebhook(SECRET, body, T).slice(0, -2) })],
    ['malformed: timestamp not a number', () => ({ 'x-langfuse-signature': `t=soon,v1=${HEX}` })],
    ['malformed: garbage', () => ({ 'x-langfuse-signature': 'garbage' })],
  ])('refuses %s: 401 invalid_signature, nothing fetched, the id not consumed', async (_case, headers) => {
    const { app } = await service();
    await orderStatus(app);
    langfuse.addLabels('order-status-answer', 2, ['production']);
    langfuse.clearRequests();
    const body = promptEvent();
    const res = await deliver(app, body, headers(body));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'invalid_signature', message: 'missing or invalid x-langfuse-signature' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(langfuse.promptFetches()).toBe(0);
    // The same delivery, properly signed, is still new.
    expect((await deliver(app, body, signed(body))).json()).toEqual({ status: 'accepted' });
  });

  it('accepts the edges of the window and fields in any order (parsed by key, extra keys ignored)', async () => {
    const { app } = await service();
    for (const t of [T - 299, T + 299]) {
      const body = promptEvent({ labels: [] });
      expect((await deliver(app, body, signed(body, t))).json()).toEqual({ status: 'accepted' });
    }
    const body = promptEvent({ labels: [] });
    const [tPart, v1Part] = signLangfuseWebhook(SECRET, body, T).split(',') as [string, string];
    const reordered = `${v1Part}, v0=${HEX}, ${tPart}`;
    expect((await deliver(app, body, { 'x-langfuse-signature': reordered })).json()).toEqual({ status: 'accepted' });
  });

  it('answers a redelivered id within the hour with duplicate and does nothing again', async () => {
    const { app } = await service();
    await orderStatus(app);
    langfuse.addLabels('order-status-answer', 2, ['production']);
    langfuse.clearRequests();
    const body = promptEvent({ id: 'evt-retry-1' });
    expect((await deliver(app, body, signed(body))).json()).toEqual({ status: 'accepted' });
    // Langfuse retries with the same id (and a new signature time).
    expect((await deliver(app, body, signed(body, T + 5))).json()).toEqual({ status: 'duplicate' });
    await new Promise((r) => setTimeout(r, 50));
    expect(langfuse.promptFetches('production')).toBe(1);
  });

  it('refuses a body over 64 KiB with 413 and takes one of exactly 64 KiB', async () => {
    const { app } = await service();
    const base = promptEvent({ labels: [] });
    const pad = (size: number) => `${base.slice(0, -1)},"pad":"${'x'.repeat(size - base.length - 9)}"}`;
    const exact = pad(64 * 1024);
    expect(Buffer.byteLength(exact)).toBe(64 * 1024);
    expect((await deliver(app, exact, signed(exact))).statusCode).toBe(200);
    const over = pad(64 * 1024 + 1).replace(/"id":"[^"]+"/, `"id":"${randomUUID()}"`);
    const res = await deliver(app, over, signed(over));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('body_too_large');
  });

  it('ignores well-signed events for another prompt or of another type, and refuses well-signed non-JSON with 400', async () => {
    const { app } = await service();
    await orderStatus(app);
    langfuse.clearRequests();
    for (const body of [
      promptEvent({ name: 'another-prompt' }),
      promptEvent({ type: 'monitor-alert' }),
      JSON.stringify({ id: randomUUID(), type: 'prompt-version', apiVersion: 'v2', action: 'updated', prompt: {} }),
      JSON.stringify({ hello: 'world' }),
      '[]',
      'null',
    ]) {
      const res = await deliver(app, body, signed(body));
      expect(res.statusCode, body).toBe(200);
      expect(res.json(), body).toEqual({ status: 'ignored' });
    }
    expect(langfuse.promptFetches()).toBe(0);
    const notJson = '{"id": "truncated';
    const res = await deliver(app, notJson, signed(notJson));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
  });

  it('never answers a well-signed body with a 5xx', async () => {
    const { app } = await service();
    const anyBody = fc.oneof(
      fc.json(),
      fc.string(),
      fc.record({
        id: fc.string(),
        type: fc.constantFrom('prompt-version', 'monitor-alert', 'x'),
        apiVersion: fc.constantFrom('v1', 'v2'),
        action: fc.string(),
        prompt: fc.record({ name: fc.constantFrom('order-status-answer', 'x'), version: fc.oneof(fc.integer(), fc.double(), fc.string()), labels: fc.anything() }, { requiredKeys: [] }),
      }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const res = await deliver(app, body, signed(body));
        expect([200, 400]).toContain(res.statusCode);
      }),
      { numRuns: 150 },
    );
  });
});

describe('POST /webhooks/langfuse: where it exists and who may call it', () => {
  it('does not exist without LANGFUSE_WEBHOOK_SECRET (404)', async () => {
    const { app } = await build({ env: {}, promptSource: source(), clock });
    const body = promptEvent();
    const res = await deliver(app, body, signed(body));
    expect(res.statusCode).toBe(404);
  });

  it('is not behind the bearer keys nor the per-user limit: the signature is the authentication', async () => {
    const { app } = await service({ SERVICE_API_KEYS: 'k'.repeat(32), RATE_LIMIT_PER_USER_PER_MINUTE: '1' });
    for (let i = 0; i < 3; i += 1) {
      const body = promptEvent({ labels: [] });
      expect((await deliver(app, body, signed(body))).json()).toEqual({ status: 'accepted' });
    }
    expect((await orderStatus(app)).statusCode).toBe(401);
  });

  it('is documented in the OpenAPI description', async () => {
    const { app } = await service();
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const op = doc.paths['/webhooks/langfuse'].post;
    expect(op.description).toContain('x-langfuse-signature');
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401', '413']));
    expect(op.parameters.map((p: { name: string }) => p.name)).toContain('x-langfuse-signature');
    expect(JSON.stringify(op.requestBody)).toContain('prompt-version');
  });
});

describe('webhook de-duplication window (per process)', () => {
  it('remembers a delivery id for an hour, then forgets it', async () => {
    let now = NOW;
    const deliveries = new LocalWebhookDeliveries({ now: () => now });
    expect(await deliveries.firstSeen('evt-1')).toBe(true);
    now += 3_599_000;
    expect(await deliveries.firstSeen('evt-1')).toBe(false);
    now += 2_000;
    expect(await deliveries.firstSeen('evt-1')).toBe(true);
  });

  it('is bounded: a flood of ids forgets the oldest first, never grows past its cap', async () => {
    const deliveries = new LocalWebhookDeliveries(clock, 3_600_000, 100);
    for (let i = 0; i < 1_000; i += 1) await deliveries.firstSeen(`evt-${i}`);
    expect(deliveries.size).toBeLessThanOrEqual(100);
    expect(await deliveries.firstSeen('evt-999')).toBe(false);
    expect(await deliveries.firstSeen('evt-0')).toBe(true);
  });
});
