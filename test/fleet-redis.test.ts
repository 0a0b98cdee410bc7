import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { createFleet, type Fleet } from '../src/fleet/fleet.js';
import { signLangfuseWebhook } from '../src/http/webhook-signature.js';
import { LangfusePromptSource } from '../src/prompts/langfuse-prompt-source.js';
import { build, type TestService } from './support/build.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { redisUnavailable, startTestRedis, type TestRedis } from './support/redis-server.js';
import { promptVersionEvent } from './support/langfuse-webhook.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';

/**
 * The fleet module against a real Redis (Debian's redis-server on a free port), two "replicas"
 * in one process: shared limits, shared de-duplication, fan-out, and what happens when Redis
 * dies, freezes and comes back. The same with real server processes: fleet-replicas.test.ts.
 */

const skip = redisUnavailable();
const SECRET = `lf-whsec_${'5e'.repeat(32)}`;

let redis: TestRedis;
let langfuse: LangfusePromptStandIn;
beforeAll(async () => {
  if (skip) return;
  redis = await startTestRedis();
  langfuse = await startSeededLangfuse('pk-lf-fleet', 'sk-lf-fleet');
});
afterAll(async () => {
  await redis?.stop();
  await langfuse?.close();
});

interface Replica extends TestService {
  fleet: Fleet;
  logs: Record<string, unknown>[];
}

const replicas: Replica[] = [];
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.fleet.close()));
  if (!skip && redis.pid === undefined) await redis.start();
});

async function replica(env: Record<string, string> = {}): Promise<Replica> {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const fullEnv = {
    LANGFUSE_WEBHOOK_SECRET: SECRET,
    REDIS_URL: redis.url,
    PROMPT_CACHE_TTL_SECONDS: '3600',
    PROMPT_MAX_STALE_SECONDS: '3600',
    RATE_LIMIT_PER_USER_PER_MINUTE: '4',
    DEPLOYMENT_ENVIRONMENT: `test-${randomUUID().slice(0, 8)}`,
    ...env,
  };
  const promptSource = new LangfusePromptSource({ publicKey: 'pk-lf-fleet', secretKey: 'sk-lf-fleet', baseUrl: langfuse.baseUrl, fetchTimeoutMs: 2_000 });
  let fleet: Fleet | undefined;
  const service = await build({
    env: fullEnv,
    promptSource,
    app: (runtime, settings) => {
      fleet = createFleet({ settings, prompts: runtime.prompts, logger, clock: systemClock });
      return { fleet, rateLimitStore: fleet.rateLimitStore };
    },
  });
  if (!fleet) throw new Error('no fleet');
  const r: Replica = { ...service, fleet, logs };
  replicas.push(r);
  await until(() => r.fleet.redisState() === 'up');
  return r;
}

/** Two replicas of one deployment (same Redis namespace). */
async function pair(env: Record<string, string> = {}): Promise<[Replica, Replica]> {
  const shared = { DEPLOYMENT_ENVIRONMENT: `test-${randomUUID().slice(0, 8)}`, ...env };
  return [await replica(shared), await replica(shared)];
}

const ask = (app: FastifyInstance, userId: string) =>
  app.inject({
    method: 'POST',
    url: '/order-status',
    headers: { 'content-type': 'application/json' },
    payload: { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: userId },
  });

function webhook(app: FastifyInstance, body: string) {
  return app.inject({
    method: 'POST',
    url: '/webhooks/langfuse',
    headers: { 'content-type': 'application/json', 'x-langfuse-signature': signLangfuseWebhook(SECRET, body, Date.now() / 1000) },
    payload: body,
  });
}

const promptEvent = (version: number, labels: string[], id?: string) => promptVersionEvent({ version, labels, id });

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const messages = (r: Replica, msg: string) => r.logs.filter((l) => l.msg === msg);

describe.skipIf(skip)(`fleet through Redis${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 60_000 }, () => {
  it('counts one user across replicas: the limit holds for the fleet, not per replica', async () => {
    const [a, b] = await pair();
    const statuses = [];
    for (const app of [a.app, b.app, a.app, b.app, a.app]) statuses.push((await ask(app, 'usr_fleet_limit')).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    // Another user is unaffected.
    expect((await ask(b.app, 'usr_fleet_other')).statusCode).toBe(200);
  });

  it('de-duplicates a redelivery that lands on another replica', async () => {
    const [a, b] = await pair();
    const body = promptEvent(2, ['prod-b'], 'evt-shared-1');
    expect((await webhook(a.app, body)).json()).toEqual({ status: 'accepted' });
    expect((await webhook(b.app, body)).json()).toEqual({ status: 'duplicate' });
  });

  it('fans a change accepted by one replica out to the other, which refetches', async () => {
    const [a, b] = await pair();
    langfuse.addLabels('order-status-answer', 2, ['production']);
    try {
      expect((await webhook(a.app, promptEvent(2, ['production', 'prod-b']))).json()).toEqual({ status: 'accepted' });
      await until(() => a.runtime.prompts.servedVersions().production === 2 && b.runtime.prompts.servedVersions().production === 2, 2_000);
      expect((await ask(b.app, 'usr_fleet_fanout')).json().prompt).toMatchObject({ version: 2, source: 'langfuse' });
      expect(messages(b, 'prompt changed in Langfuse: refetching')[0]).toMatchObject({ origin: 'fleet', labels: ['production'] });
    } finally {
      langfuse.addLabels('order-status-answer', 1, ['production']);
    }
  });

  it('keeps serving when Redis dies: per-process limits, no waiting, ready; logs once per outage and once on recovery, then shares again', async () => {
    const [a, b] = await pair();
    await redis.stop();
    await until(() => a.fleet.redisState() === 'down' && b.fleet.redisState() === 'down');

    const started = performance.now();
    const statuses = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await ask(a.app, 'usr_fleet_outage')).statusCode);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(statuses).toEqual([200, 200, 200, 200, 429]); // the limit still holds, per replica
    expect((await ask(b.app, 'usr_fleet_outage')).statusCode).toBe(200); // ... and each replica allows it once
    expect((await a.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    // A webhook still works here (local de-duplication, local refetch).
    expect((await webhook(a.app, promptEvent(1, ['production']))).json()).toEqual({ status: 'accepted' });

    // Several reconnect attempts, one line.
    await new Promise((r) => setTimeout(r, 2_500));
    for (const r of [a, b]) expect(messages(r, 'Redis unreachable: rate limits count per process, prompt changes reach other replicas by TTL refresh; reconnecting')).toHaveLength(1);

    await redis.start();
    await until(() => a.fleet.redisState() === 'up' && b.fleet.redisState() === 'up');
    for (const r of [a, b]) expect(messages(r, 'Redis reachable again: shared rate limits and prompt fan-out restored')).toHaveLength(1);
    // Shared again (Redis restarted empty): 4 across both, then 429.
    const after = [];
    for (const app of [a.app, b.app, a.app, b.app, b.app]) after.push((await ask(app, 'usr_fleet_after')).statusCode);
    expect(after).toEqual([200, 200, 200, 200, 429]);
    // Re-subscribed: fan-out works again.
    await until(() => redis.cli('PUBSUB', 'NUMSUB', `order-status-agent:${a.settings.service.environment}:prompt-changes`).endsWith('2'));
  });

  it('bounds a frozen Redis by REDIS_COMMAND_TIMEOUT_MS: requests answer from the per-process count', async () => {
    const [a] = await pair({ REDIS_COMMAND_TIMEOUT_MS: '200' });
    const pid = redis.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = performance.now();
      const res = await ask(a.app, 'usr_fleet_frozen');
      expect(res.statusCode).toBe(200);
      expect(performance.now() - started).toBeLessThan(1_500);
      const body = promptEvent(1, ['production']);
      const hook = await webhook(a.app, body);
      expect(hook.json()).toEqual({ status: 'accepted' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(a.logs.some((l) => l.msg === 'rate-limit counters fell back to this process (Redis command failed)')).toBe(true);
  });
});
