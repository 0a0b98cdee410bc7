import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../src/config/settings.js';
import { formatResult, runDoctor } from '../src/doctor.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { runNodeScript } from './support/processes.js';

let langfuse: LangfusePromptStandIn;
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
      ['collector', true],
      ['model', true],
    ]);
  });

  it('names the problem and the fix: wrong keys, missing label, dead Collector, bad OpenAI key', async () => {
    const results = await runDoctor(parseSettings(env({ LANGFUSE_SECRET_KEY: 'wrong', OPENAI_API_KEY: 'wrong', OTEL_EXPORTER_OTLP_ENDPOINT: deadUrl })));
    const lines = results.map(formatResult).join('\n');
    expect(lines).toContain('FAIL  langfuse keys');
    expect(lines).toContain('LANGFUSE_SECRET_KEY');
    expect(lines).toMatch(/FAIL {2}collector .*ECONNREFUSED.*→/);
    expect(lines).toContain('rejected OPENAI_API_KEY (401)');
    const missing = await runDoctor(parseSettings(env({ PROMPT_EXPERIMENT: 'staging=1' })));
    expect(missing.find((r) => r.name === 'prompt staging')).toMatchObject({ ok: false, hint: expect.stringContaining('npm run prompts -- seed') });
  });

  it('runs as a CLI: one line per check, exit 1 on any failure', async () => {
    const ok = await runNodeScript('src/doctor.ts', [], env());
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(4);
    const bad = await runNodeScript('src/doctor.ts', [], env({ OTEL_EXPORTER_OTLP_ENDPOINT: deadUrl }));
    expect(bad.code).toBe(1);
  });
});
