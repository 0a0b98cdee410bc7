import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnvironment, parseSettings } from '../src/config/settings.js';

describe('settings', () => {
  it('starts on embedded defaults with no keys: local prompts, offline model', () => {
    const s = parseSettings({});
    expect(s.prompts.source).toBe('local');
    expect(s.openai).toMatchObject({ offline: true, model: 'offline' });
    expect(s.telemetry.tracesEndpoint).toBe('http://localhost:4318/v1/traces');
    expect(s.telemetry.serviceName).toBe('order-support-agent');
    expect(s.langfuse.baseUrl).toBe('http://localhost:3000');
    expect(s.prompts.cacheTtlSeconds).toBe(60);
    expect(s).toMatchObject({ graphLayout: 'grouped', openai: { httpClient: 'node-http' } });
    expect(s.service.rateLimitPerUserPerMinute).toBe(60);
  });

  it('uses Langfuse when both keys are set, and the traces endpoint variable over the base one', () => {
    const s = parseSettings({
      LANGFUSE_PUBLIC_KEY: 'pk',
      LANGFUSE_SECRET_KEY: 'sk',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/v1/traces',
    });
    expect(s.prompts.source).toBe('langfuse');
    expect(s.telemetry.tracesEndpoint).toBe('http://other:4318/v1/traces');
    expect(parseSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).telemetry.tracesEndpoint).toBe('http://collector:4318/v1/traces');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PROMPT_CACHE_TTL_SECONDS: '-5' }, 'PROMPT_CACHE_TTL_SECONDS'],
    [{ CAPTURE_MODE: 'everything' }, 'CAPTURE_MODE'],
    [{ OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL'],
    [{ LANGFUSE_PUBLIC_KEY: 'pk' }, 'LANGFUSE_SECRET_KEY'],
    [{ PROMPT_SOURCE: 'langfuse' }, 'PROMPT_SOURCE'],
    [{ PROMPT_EXPERIMENT: 'prod-a=50,latest=50' }, 'PROMPT_EXPERIMENT'],
    [{ DEPLOYMENT_ENVIRONMENT: 'production' }, 'OPENAI_API_KEY'],
    [{ DEPLOYMENT_ENVIRONMENT: 'production', OPENAI_API_KEY: 'k', LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk' }, 'SERVICE_API_KEYS'],
    [{ SERVICE_API_KEYS: 'short' }, 'SERVICE_API_KEYS'],
    [{ GRAPH_LAYOUT: 'six-nodes' }, 'GRAPH_LAYOUT'],
    [{ OPENAI_HTTP_CLIENT: 'axios' }, 'OPENAI_HTTP_CLIENT'],
    [{ DEPLOYMENT_ENVIRONMENT: 'production', OPENAI_API_KEY: 'k', LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk', SERVICE_API_KEYS: 'k'.repeat(16) }, 'INTERACTION_SIGNING_KEY'],
    [{ INTERACTION_SIGNING_KEY: 'too-short' }, 'INTERACTION_SIGNING_KEY'],
    [{ INTERACTION_TTL_SECONDS: '0' }, 'INTERACTION_TTL_SECONDS'],
    [{ SCORE_QUEUE_SIZE: 'lots' }, 'SCORE_QUEUE_SIZE'],
    [{ SCORE_SEND_CONCURRENCY: '0' }, 'SCORE_SEND_CONCURRENCY'],
    [{ SCORE_REQUEST_TIMEOUT_MS: '-1' }, 'SCORE_REQUEST_TIMEOUT_MS'],
    [{ SCORE_RETRY_MAX_DELAY_MS: 'soon' }, 'SCORE_RETRY_MAX_DELAY_MS'],
    // The old per-key limit: still set, it would be silently ignored.
    [{ RATE_LIMIT_PER_MINUTE: '600' }, 'RATE_LIMIT_PER_MINUTE: replaced by RATE_LIMIT_PER_USER_PER_MINUTE'],
    [{ RATE_LIMIT_PER_USER_PER_MINUTE: '-1' }, 'RATE_LIMIT_PER_USER_PER_MINUTE'],
    [{ STREAM_TOKEN_COALESCE_MS: '-5' }, 'STREAM_TOKEN_COALESCE_MS'],
    [{ STREAM_TOKEN_COALESCE_MS: '5000' }, 'STREAM_TOKEN_COALESCE_MS'],
    [{ PROMPT_PROTECTED_LABELS: 'production,Prod B' }, 'PROMPT_PROTECTED_LABELS'],
    [{ PROMPT_PROTECTED_LABELS: 'latest' }, 'PROMPT_PROTECTED_LABELS'],
    [{ RELEASE_EVAL_CONCURRENCY: '0' }, 'RELEASE_EVAL_CONCURRENCY'],
    [{ RELEASE_EVAL_ITEM_TIMEOUT_MS: 'soon' }, 'RELEASE_EVAL_ITEM_TIMEOUT_MS'],
    [{ REDIS_URL: 'http://redis:6379' }, 'REDIS_URL: must be a redis:// or rediss:// URL'],
    [{ REDIS_URL: 'redis-host:6379' }, 'REDIS_URL'],
    [{ REDIS_COMMAND_TIMEOUT_MS: '0' }, 'REDIS_COMMAND_TIMEOUT_MS'],
    [{ LANGFUSE_WEBHOOK_SECRET: 'short' }, 'LANGFUSE_WEBHOOK_SECRET'],
  ])('rejects %o naming %s', (env, variable) => {
    expect(() => parseSettings(env)).toThrow(ConfigError);
    expect(() => parseSettings(env)).toThrow(variable);
  });

  it('protects production by default, and reads the release gate settings', () => {
    expect(parseSettings({}).release).toEqual({
      protectedLabels: ['production'],
      logFile: 'prompts/releases.jsonl',
      actor: undefined,
      datasetFile: 'evals/order-status-regression.jsonl',
      concurrency: 4,
      itemTimeoutMs: 120_000,
    });
    expect(parseSettings({ PROMPT_PROTECTED_LABELS: '' }).release.protectedLabels).toEqual(['production']);
    expect(parseSettings({ PROMPT_PROTECTED_LABELS: 'production, prod-a', PROMPT_RELEASE_ACTOR: 'ci-bot' }).release).toMatchObject({
      protectedLabels: ['production', 'prod-a'],
      actor: 'ci-bot',
    });
  });

  it('quality signals: 7-day ids, a bounded score queue, scores sent only in Langfuse prompt mode, key rotation lists', () => {
    expect(parseSettings({}).quality).toEqual({
      signingKeys: [],
      interactionTtlSeconds: 604_800,
      sendScores: false,
      scoreQueueSize: 10_000,
      scoreConcurrency: 4,
      scoreRequestTimeoutMs: 5_000,
      scoreRetryMaxDelayMs: 30_000,
    });
    const s = parseSettings({ LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk', INTERACTION_SIGNING_KEY: `${'a'.repeat(32)}, ${'b'.repeat(40)}` });
    expect(s.quality).toMatchObject({ sendScores: true, signingKeys: ['a'.repeat(32), 'b'.repeat(40)] });
    expect(parseSettings({ LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk', PROMPT_SOURCE: 'local' }).quality.sendScores).toBe(false);
  });

  it('never echoes a signing key in its error', () => {
    expect(() => parseSettings({ INTERACTION_SIGNING_KEY: 'secret-but-short' })).toThrow(/^(?!.*secret-but-short).*$/s);
  });

  it('fleet: webhook and Redis off by default; the prompt snapshot on in Langfuse mode only', () => {
    expect(parseSettings({}).fleet).toEqual({ webhookSecret: undefined, redisUrl: undefined, redisCommandTimeoutMs: 250, promptSnapshotFile: undefined });
    const langfuse = { LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk' };
    expect(parseSettings(langfuse).fleet.promptSnapshotFile).toBe('.cache/prompt-snapshot.json');
    expect(parseSettings({ ...langfuse, PROMPT_SNAPSHOT_FILE: 'off' }).fleet.promptSnapshotFile).toBeUndefined();
    const fleet = parseSettings({ ...langfuse, REDIS_URL: 'rediss://:secret@redis.internal:6380/2', LANGFUSE_WEBHOOK_SECRET: `lf-whsec_${'0'.repeat(64)}` }).fleet;
    expect(fleet).toMatchObject({ redisUrl: 'rediss://:secret@redis.internal:6380/2', webhookSecret: `lf-whsec_${'0'.repeat(64)}` });
  });

  it('reads .env when present, and the real environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'OPENAI_MODEL=from-file\nAGENT_VERSION=from-file\n');
    const env = loadEnvironment({ AGENT_VERSION: 'from-env' }, file);
    expect(env).toMatchObject({ OPENAI_MODEL: 'from-file', AGENT_VERSION: 'from-env' });
  });

  it('stops the server at start-up with a message naming the bad variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: 'not-a-port', OTEL_SDK_DISABLED: 'true' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('PORT');
    expect(result.stdout).toBe('');
  });
});
