import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../src/config/settings.js';
import { formatResult, runDoctor } from '../src/doctor.js';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { runNodeScript } from './support/processes.js';
import { build } from './support/build.js';
import { redisUnavailable, startTestRedis } from './support/redis-server.js';

let langfuse: LangfuseStandIn;
let openai: OpenAIStandIn;
let otlp: OtlpReceiver;
let deadUrl: string;
beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
  await new Promise((resolve) => probe.close(resolve));
  langfuse = await startSeededLangfuse('pk-doc', 'sk-doc');
  openai = await startOpenAIStandIn({ apiKey: 'sk-doc' });
  otlp = await startOtlpReceiver();
});
afterAll(async () => Promise.all([langfuse.close(), openai.close(), otlp.close()]));

const env = (extra: Record<string, string> = {}) => ({
  LANGFUSE_PUBLIC_KEY: 'pk-doc',
  LANGFUSE_SECRET_KEY: 'sk-doc',
  LANGFUSE_BASE_URL: langfuse.baseUrl,
  OPENAI_API_KEY: 'sk-doc',
  OPENAI_BASE_URL: openai.baseURL,
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  ...extra,
});

describe('npm run doctor', () => {
  it('passes every check against a healthy stack', async () => {
    const results = await runDoctor(parseSettings(env({ PROMPT_EXPERIMENT: 'prod-a=1,prod-b=1' })));
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ['langfuse health', true],
      ['prompt production', true],
      ['prompt prod-a', true],
      ['prompt prod-b', true],
      ['scores', true],
      ['collector', true],
      ['model', true],
      ['webhook', true],
    ]);
  });

  it('names the problem and the fix: wrong keys, missing label, dead Collector, bad OpenAI key', async () => {
    const results = await runDoctor(parseSettings(env({ LANGFUSE_SECRET_KEY: 'wrong', OPENAI_API_KEY: 'wrong', OTEL_EXPORTER_OTLP_ENDPOINT: deadUrl })));
    const lines = results.map(formatResult).join('\n');
    expect(lines).toContain('FAIL  langfuse keys');
    expect(lines).toContain('LANGFUSE_SECRET_KEY');
    expect(lines).toMatch(/FAIL {2}collector .*ECONNREFUSED.*→/);
    expect(lines).toContain('rejected OPENAI_API_KEY (401)');
    // Scores: the probe writes nothing; a failing scores API is named with its status.
    expect(langfuse.quality.scores.size).toBe(0);
    langfuse.quality.setScoreFault({ status: 503 });
    try {
      const scores = (await runDoctor(parseSettings(env()))).find((r) => r.name === 'scores');
      expect(scores).toMatchObject({ ok: false, detail: expect.stringContaining('answered 503') });
    } finally {
      langfuse.quality.setScoreFault(null);
    }
    const missing = await runDoctor(parseSettings(env({ PROMPT_EXPERIMENT: 'staging=1' })));
    expect(missing.find((r) => r.name === 'prompt staging')).toMatchObject({ ok: false, hint: expect.stringContaining('npm run prompts -- seed') });
  });

  it('runs as a CLI: one line per check, exit 1 on any failure', async () => {
    const ok = await runNodeScript('src/doctor.ts', [], env());
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(6);
    const bad = await runNodeScript('src/doctor.ts', [], env({ OTEL_EXPORTER_OTLP_ENDPOINT: deadUrl }));
    expect(bad.code).toBe(1);
  });
});

describe('npm run doctor: the fleet (webhook, Redis)', () => {
  const SECRET = `lf-whsec_${'d0'.repeat(32)}`;

  async function listening(env: Record<string, string>): Promise<string> {
    const { app } = await build({ env });
    return app.listen({ host: '127.0.0.1', port: 0 });
  }

  it('says whether the webhook secret is set and, when it is, that the running service verifies a signed test event', async () => {
    const unset = await runDoctor(parseSettings(env()));
    expect(unset.find((r) => r.name === 'webhook')).toMatchObject({ ok: true, detail: expect.stringContaining('LANGFUSE_WEBHOOK_SECRET not set') });

    const serviceUrl = await listening({ LANGFUSE_WEBHOOK_SECRET: SECRET });
    const ok = await runDoctor(parseSettings(env({ LANGFUSE_WEBHOOK_SECRET: SECRET })), { serviceUrl });
    expect(ok.find((r) => r.name === 'webhook')).toMatchObject({ ok: true, detail: `secret set; ${serviceUrl}/webhooks/langfuse verified a signed test event` });

    const wrong = await runDoctor(parseSettings(env({ LANGFUSE_WEBHOOK_SECRET: `lf-whsec_${'e1'.repeat(32)}` })), { serviceUrl });
    expect(formatResult(wrong.find((r) => r.name === 'webhook')!)).toMatch(/FAIL {2}webhook .*refused the signature \(401\).*another LANGFUSE_WEBHOOK_SECRET/);

    const withoutRoute = await listening({});
    const missing = await runDoctor(parseSettings(env({ LANGFUSE_WEBHOOK_SECRET: SECRET })), { serviceUrl: withoutRoute });
    expect(missing.find((r) => r.name === 'webhook')).toMatchObject({ ok: false, hint: expect.stringContaining('without LANGFUSE_WEBHOOK_SECRET') });

    const down = await runDoctor(parseSettings(env({ LANGFUSE_WEBHOOK_SECRET: SECRET })), { serviceUrl: deadUrl });
    expect(down.find((r) => r.name === 'webhook')).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
  });

  it.skipIf(redisUnavailable())('reports Redis reachability when REDIS_URL is set, without printing its password', async () => {
    const redis = await startTestRedis();
    try {
      const ok = await runDoctor(parseSettings(env({ REDIS_URL: redis.url })));
      expect(ok.find((r) => r.name === 'redis')).toMatchObject({ ok: true, detail: expect.stringMatching(/answers \(Redis \d+\.\d+/) });
      const dead = await runDoctor(parseSettings(env({ REDIS_URL: `redis://:hunter2@127.0.0.1:${new URL(deadUrl).port}/0` })));
      const line = formatResult(dead.find((r) => r.name === 'redis')!);
      expect(line).toMatch(/^FAIL {2}redis .*ECONNREFUSED.*→ start it/);
      expect(line).not.toContain('hunter2');
      expect((await runDoctor(parseSettings(env()))).some((r) => r.name === 'redis')).toBe(false);
    } finally {
      await redis.stop();
    }
  });
});
