import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { postSignedWebhook, promptVersionEvent } from './support/langfuse-webhook.js';
import { redisUnavailable, startTestRedis, type TestRedis } from './support/redis-server.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * Three real server processes (as `npm start` runs them) sharing one real Redis and one
 * Langfuse: SPEC §11's goal — a label moved in Langfuse is served by every replica within 1 s
 * of the webhook, with a TTL of an hour — and what a Redis outage does to the fleet.
 */

const skip = redisUnavailable();
const SECRET = `lf-whsec_${'a7'.repeat(32)}`;
const LIMIT = 6;

let redis: TestRedis;
let langfuse: LangfusePromptStandIn;
const replicas: ServerProcess[] = [];

beforeAll(async () => {
  if (skip) return;
  redis = await startTestRedis();
  langfuse = await startSeededLangfuse('pk-lf-replicas', 'sk-lf-replicas');
  const env = {
    LANGFUSE_PUBLIC_KEY: 'pk-lf-replicas',
    LANGFUSE_SECRET_KEY: 'sk-lf-replicas',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    LANGFUSE_WEBHOOK_SECRET: SECRET,
    REDIS_URL: redis.url,
    PROMPT_CACHE_TTL_SECONDS: '3600',
    PROMPT_MAX_STALE_SECONDS: '3600',
    RATE_LIMIT_PER_USER_PER_MINUTE: String(LIMIT),
    OTEL_SDK_DISABLED: 'true',
  };
  // Each one kept as soon as it is up, so afterAll stops them even if another fails to start.
  await Promise.all([0, 1, 2].map(async () => replicas.push(await startServerProcess(env, 60_000))));
  await until(() => replicas.every((r) => logged(r, 'Redis connected') === 1), 15_000);
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await redis?.stop();
  await langfuse?.close();
});

const logged = (r: ServerProcess, msg: string) => r.logs().filter((line) => line.includes(`"msg":"${msg}"`)).length;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

let pollUser = 0;
/** The version a replica answers with now (a fresh user per call: polling must not hit the limit). */
async function versionServedBy(r: ServerProcess): Promise<number> {
  const res = await postOrderStatus(r.url, `usr_poll_${(pollUser += 1)}`);
  return ((await res.json()) as { prompt: { version: number } }).prompt.version;
}

const postWebhook = (r: ServerProcess, version: number, labels: string[]) => postSignedWebhook(r.url, SECRET, promptVersionEvent({ version, labels }));

/** Moves `production` in Langfuse, posts the webhook to one replica, and times until every replica answers with it. */
async function moveAndPropagate(version: number, via: ServerProcess): Promise<number> {
  langfuse.addLabels('order-status-answer', version, ['production']);
  const started = performance.now();
  const res = await postWebhook(via, version, langfuse.getPrompt('order-status-answer', { version })!.labels);
  expect(await res.json()).toEqual({ status: 'accepted' });
  await until(async () => (await Promise.all(replicas.map(versionServedBy))).every((v) => v === version), 5_000, 5);
  return performance.now() - started;
}

describe.skipIf(skip)(`a fleet of three replicas${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 60_000 }, () => {
  it('serves a label moved in Langfuse on every replica within 1 s of the webhook to one of them (TTL: 1 h)', async () => {
    expect(await Promise.all(replicas.map(versionServedBy))).toEqual([1, 1, 1]);
    const elapsed = await moveAndPropagate(2, replicas[0]!);
    expect(elapsed).toBeLessThan(1_000);
    for (const r of replicas.slice(1)) expect(logged(r, 'prompt changed in Langfuse: refetching')).toBe(1);
  });

  it('holds the per-user limit across replicas: the fleet allows it once, not once per replica', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i += 1) statuses.push((await postOrderStatus(replicas[i % 3]!.url, 'usr_fleet_quota')).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), 429]);
  });

  it('keeps every replica answering and ready while Redis is down, and restores fan-out when it returns', async () => {
    await redis.stop();
    await until(() => replicas.every((r) => logged(r, 'Redis unreachable: rate limits count per process, prompt changes reach other replicas by TTL refresh; reconnecting') === 1));
    for (const r of replicas) {
      expect((await postOrderStatus(r.url, 'usr_fleet_outage')).status).toBe(200);
      expect((await fetch(`${r.url}/readyz`)).status).toBe(200);
    }
    // Without Redis a webhook reaches only its replica (the others would wait for the TTL).
    langfuse.addLabels('order-status-answer', 1, ['production']);
    expect(await (await postWebhook(replicas[1]!, 1, ['production', 'prod-a'])).json()).toEqual({ status: 'accepted' });
    await until(async () => (await versionServedBy(replicas[1]!)) === 1);
    expect(await versionServedBy(replicas[0]!)).toBe(2);

    await redis.start();
    await until(() => replicas.every((r) => logged(r, 'Redis reachable again: shared rate limits and prompt fan-out restored') === 1), 15_000);
    // On recovery each replica reconciles what it missed while cut off.
    await until(async () => (await Promise.all(replicas.map(versionServedBy))).every((v) => v === 1));
    // Fan-out is back: one webhook, every replica, within 1 s.
    await until(() => redis.cli('PUBSUB', 'NUMSUB', 'order-status-agent:development:prompt-changes').endsWith('3'));
    expect(await moveAndPropagate(2, replicas[2]!)).toBeLessThan(1_000);
    for (const r of replicas) expect(logged(r, 'Redis unreachable: rate limits count per process, prompt changes reach other replicas by TTL refresh; reconnecting')).toBe(1);
  });
});
