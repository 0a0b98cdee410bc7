import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { GRAPH_LAYOUTS, type GraphLayout } from '../agent/graph-layout.js';

/** Raised when configuration is invalid; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const emptyToUndefined = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optionalString = z.preprocess(emptyToUndefined, z.string().trim().optional());
const url = z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional());
const positiveInt = (fallback: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(fallback));
const nonNegativeInt = (fallback: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).default(fallback));
const bool = (fallback: boolean) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim().toLowerCase()) : v),
    z.enum(['true', 'false', '1', '0']).default(fallback ? 'true' : 'false').transform((v) => v === 'true' || v === '1'),
  );
const csv = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []),
  z.array(z.string()),
);

/** `prod-a=50,prod-b=50` → [{label, weight}] */
const experiment = z.preprocess(
  (v) =>
    typeof v === 'string' && v.trim() !== ''
      ? v.split(',').map((pair) => {
          const [label = '', weight = ''] = pair.split('=').map((s) => s.trim());
          return { label, weight: weight === '' ? 1 : Number(weight) };
        })
      : [],
  z.array(
    z.object({
      label: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'label must be lowercase letters, digits, - _ .').refine((l) => l !== 'latest', 'latest is not a deployable label'),
      weight: z.number().positive('weights must be positive numbers'),
    }),
  ),
);

/** OTLP encodings the app can export (gRPC is not accepted by Langfuse and not shipped here). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

const envSchema = z.object({
  OPENAI_API_KEY: optionalString,
  OPENAI_MODEL: z.preprocess(emptyToUndefined, z.string().default('gpt-4o-mini')),
  OPENAI_BASE_URL: url,
  OPENAI_API: z.preprocess(emptyToUndefined, z.enum(['responses', 'chat_completions']).default('responses')),
  OPENAI_HTTP_CLIENT: z.preprocess(emptyToUndefined, z.enum(['node-http', 'fetch']).default('node-http')),
  OPENAI_TIMEOUT_MS: positiveInt(30_000),
  OPENAI_MAX_RETRIES: nonNegativeInt(2),
  OPENAI_REQUEST_TIMEOUT_MS: positiveInt(60_000),
  OPENAI_FALLBACK_MODEL: optionalString,

  LANGFUSE_PUBLIC_KEY: optionalString,
  LANGFUSE_SECRET_KEY: optionalString,
  LANGFUSE_BASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default('http://localhost:3000')),
  PROMPT_SOURCE: z.preprocess(emptyToUndefined, z.enum(['langfuse', 'local']).optional()),
  PROMPT_LOCAL_FILE: z.preprocess(emptyToUndefined, z.string().default('prompts/order-status-answer.json')),
  PROMPT_CACHE_TTL_SECONDS: positiveInt(60),
  PROMPT_FETCH_TIMEOUT_MS: positiveInt(2_000),
  PROMPT_MAX_STALE_SECONDS: positiveInt(3_600),
  PROMPT_EXPERIMENT: experiment,
  PROMPT_OVERRIDABLE_LABELS: csv,

  OTEL_SDK_DISABLED: bool(false),
  OTEL_SERVICE_NAME: z.preprocess(emptyToUndefined, z.string().default('order-support-agent')),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default('http://localhost:4318')),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url,
  OTEL_BSP_SCHEDULE_DELAY: nonNegativeInt(1_000),
  // ~12 spans per request: room for 2,000+ runs finishing at once (the 5 s-model bench burst) before any drop
  OTEL_BSP_MAX_QUEUE_SIZE: positiveInt(32_768),
  // The processor exports one batch at a time; on a saturated event loop a round trip takes long, so
  // 512 per trip fell behind at 2,000 in flight (spans dropped); 2,048 (~1.6 MB protobuf) kept up.
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: positiveInt(2_048),
  OTEL_BSP_EXPORT_TIMEOUT: positiveInt(10_000),
  // Trace export encoding (issue 10, tracing cost): OTLP/HTTP protobuf as the OTel spec's default, or JSON
  OTEL_EXPORTER_OTLP_PROTOCOL: z.preprocess(emptyToUndefined, z.enum(OTLP_PROTOCOLS).default('http/protobuf')),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.preprocess(emptyToUndefined, z.enum(OTLP_PROTOCOLS).optional()),

  // Metrics and cost (SPEC §13): OTLP/HTTP metrics to the same Collector, the price catalog.
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: url,
  // otlp (default) or none: metrics off while traces stay on
  OTEL_METRICS_EXPORTER: z.preprocess(emptyToUndefined, z.enum(['otlp', 'none']).default('otlp')),
  // 15 s, not the SDK's 60 s: alerts evaluate windows of minutes and Prometheus scrapes every 15 s
  OTEL_METRIC_EXPORT_INTERVAL: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1_000).default(15_000)),
  OTEL_METRIC_EXPORT_TIMEOUT: positiveInt(10_000),
  MODEL_PRICES_FILE: z.preprocess(emptyToUndefined, z.string().default('config/model-prices.json')),

  AGENT_VERSION: z.preprocess(emptyToUndefined, z.string().default('0.1.0')),
  DEPLOYMENT_ENVIRONMENT: z.preprocess(emptyToUndefined, z.string().regex(/^[a-z0-9-]+$/).default('development')),
  SERVICE_API_KEYS: csv.pipe(z.array(z.string().min(16, 'each key needs at least 16 characters'))),
  CAPTURE_MODE: z.preprocess(emptyToUndefined, z.enum(['metadata_only', 'redacted']).default('metadata_only')),
  HOST: z.preprocess(emptyToUndefined, z.string().default('127.0.0.1')),
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65_535).default(8080)),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  // auto: readable lines in development on a terminal, JSON otherwise
  LOG_FORMAT: z.preprocess(emptyToUndefined, z.enum(['auto', 'json', 'pretty']).default('auto')),
  MAX_CONCURRENT_REQUESTS: positiveInt(4_096),
  // Per end user (the validated body's user_id), never per API key: one integration serves all its users through one key.
  RATE_LIMIT_PER_USER_PER_MINUTE: nonNegativeInt(60),
  SHUTDOWN_GRACE_MS: positiveInt(10_000),
  // Streamed answers: tokens after the first go out together at most this often (0: each at once).
  STREAM_TOKEN_COALESCE_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(1_000).default(50)),
  MAX_AGENT_ITERATIONS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(20).default(8)),
  MAX_MODEL_CALLS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(20).default(2)),
  GRAPH_LAYOUT: z.preprocess(emptyToUndefined, z.enum(GRAPH_LAYOUTS).default('grouped')),

  // Release gate (SPEC §10): protected labels, audit log and actor, the regression dataset and its runner.
  PROMPT_PROTECTED_LABELS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v : 'production'),
    csv.pipe(z.array(z.string().regex(/^[a-z0-9_\-.]+$/, 'labels are lowercase letters, digits, _ - .').refine((l) => l !== 'latest', 'latest cannot be protected'))),
  ),
  PROMPT_RELEASE_LOG: z.preprocess(emptyToUndefined, z.string().default('prompts/releases.jsonl')),
  PROMPT_RELEASE_ACTOR: optionalString,
  RELEASE_DATASET_FILE: z.preprocess(emptyToUndefined, z.string().default('evals/order-status-regression.jsonl')),
  RELEASE_EVAL_CONCURRENCY: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(32).default(4)),
  RELEASE_EVAL_ITEM_TIMEOUT_MS: positiveInt(120_000),

  // Quality signals (SPEC §9): interaction ids, feedback/signals, the Langfuse score sink
  INTERACTION_SIGNING_KEY: csv.pipe(z.array(z.string().min(32, 'each key needs at least 32 characters (e.g. openssl rand -hex 32)'))),
  INTERACTION_TTL_SECONDS: positiveInt(604_800),
  SCORE_QUEUE_SIZE: positiveInt(10_000),
  SCORE_SEND_CONCURRENCY: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(64).default(4)),
  SCORE_REQUEST_TIMEOUT_MS: positiveInt(5_000),
  SCORE_RETRY_MAX_DELAY_MS: positiveInt(30_000),
  // Fleet (SPEC §11): Langfuse prompt webhooks, Redis fan-out and shared limits, the prompt snapshot.
  LANGFUSE_WEBHOOK_SECRET: z.preprocess(emptyToUndefined, z.string().trim().min(16, 'the secret Langfuse shows when the automation is created (lf-whsec_…)').optional()),
  REDIS_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional()),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(250),
  PROMPT_SNAPSHOT_FILE: z.preprocess(emptyToUndefined, z.string().default('.cache/prompt-snapshot.json')),
});

export type Env = z.infer<typeof envSchema>;

/** Every variable the service reads (documented in .env.example; passed through by docker-compose.yml). */
export const SETTINGS_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Settings {
  openai: {
    apiKey: string | undefined;
    model: string;
    baseUrl: string | undefined;
    api: 'responses' | 'chat_completions';
    /** `node-http`: keep-alive node:http client (src/model/node-http-fetch.ts); `fetch`: the global fetch. */
    httpClient: 'node-http' | 'fetch';
    attemptTimeoutMs: number;
    requestTimeoutMs: number;
    maxRetries: number;
    fallbackModel: string | undefined;
    /** No key: the offline deterministic model answers. */
    offline: boolean;
  };
  langfuse: { publicKey: string | undefined; secretKey: string | undefined; baseUrl: string };
  prompts: {
    source: 'langfuse' | 'local';
    localFile: string;
    cacheTtlSeconds: number;
    fetchTimeoutMs: number;
    maxStaleSeconds: number;
    experiment: { label: string; weight: number }[];
    overridableLabels: string[];
  };
  telemetry: {
    disabled: boolean;
    serviceName: string;
    tracesEndpoint: string;
    scheduleDelayMs: number;
    maxQueueSize: number;
    maxExportBatchSize: number;
    exportTimeoutMs: number;
    /** OTLP/HTTP encoding of trace exports. */
    protocol: OtlpProtocol;
  };
  /** OpenTelemetry metrics (SPEC §13); off with OTEL_SDK_DISABLED or OTEL_METRICS_EXPORTER=none. */
  metrics: {
    enabled: boolean;
    endpoint: string;
    exportIntervalMs: number;
    exportTimeoutMs: number;
  };
  /** The model price catalog that prices each model call (src/model/price-catalog.ts). */
  cost: { pricesFile: string };
  service: {
    agentVersion: string;
    environment: string;
    apiKeys: string[];
    captureMode: 'metadata_only' | 'redacted';
    host: string;
    port: number;
    logLevel: Env['LOG_LEVEL'];
    logFormat: Env['LOG_FORMAT'];
    maxConcurrentRequests: number;
    /** Requests per minute per `user_id`; 0 turns the limit off. */
    rateLimitPerUserPerMinute: number;
    shutdownGraceMs: number;
    /** `/order-status/stream`: tokens after the first are written together at most this often (ms); 0: each at once. */
    streamTokenCoalesceMs: number;
  };
  /** Per-run execution budget (book ch 17): graph steps and model calls. */
  budget: { maxIterations: number; maxModelCalls: number };
  /** How the SPEC's steps map onto LangGraph nodes (src/agent/graph-layout.ts). */
  graphLayout: GraphLayout;
  /** Release gate and audit (SPEC §10, src/release/). */
  release: {
    /** Moving these labels runs the gate (Langfuse does not protect labels against API keys). */
    protectedLabels: string[];
    /** JSON lines, one per label move (meant to be committed). */
    logFile: string;
    /** Recorded as who moved a label; undefined: the OS user. */
    actor: string | undefined;
    datasetFile: string;
    /** Dataset items running at once, per run. */
    concurrency: number;
    /** One item's run, beyond which it counts as failed. */
    itemTimeoutMs: number;
  };
  /** Quality signals (SPEC §9): interaction ids and score delivery to Langfuse. */
  quality: {
    /** First signs, every key verifies (rotation). Empty: a random per-process key (development only). */
    signingKeys: string[];
    interactionTtlSeconds: number;
    /** Scores go to Langfuse only in Langfuse prompt mode (keys set); local mode records spans only. */
    sendScores: boolean;
    scoreQueueSize: number;
    scoreConcurrency: number;
    scoreRequestTimeoutMs: number;
    scoreRetryMaxDelayMs: number;
  };
  /** Replicas kept in step (SPEC §11): webhook, Redis, prompt snapshot. */
  fleet: {
    /** `POST /webhooks/langfuse` exists only when set. */
    webhookSecret: string | undefined;
    /** Shared rate-limit counters, webhook de-duplication and prompt-change fan-out; per process when unset. */
    redisUrl: string | undefined;
    /** Bound on any Redis command on the request path (then the per-process fallback answers). */
    redisCommandTimeoutMs: number;
    /** Last fetched template per label, for a cold start while Langfuse is down; undefined in local mode or when `off`. */
    promptSnapshotFile: string | undefined;
  };
}

/** Reads `.env` (if present) under the real environment: real variables win. */
export function loadEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  envFile = '.env',
): Record<string, string | undefined> {
  if (!existsSync(envFile)) return { ...env };
  const fromFile = parseEnv(readFileSync(envFile, 'utf8'));
  return { ...fromFile, ...env };
}

/** Variables that no longer exist: still set means a limit or option silently ignored, so refuse to start. */
const REPLACED_VARIABLES: Readonly<Record<string, string>> = {
  RATE_LIMIT_PER_MINUTE:
    'replaced by RATE_LIMIT_PER_USER_PER_MINUTE (limits each end user; an API key is never capped below capacity, which MAX_CONCURRENT_REQUESTS guards); unset it',
};

/** Validates the environment once. Throws ConfigError naming each bad variable. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const replaced = Object.entries(REPLACED_VARIABLES)
    .filter(([name]) => env[name] !== undefined && env[name]?.trim() !== '')
    .map(([name, why]) => `${name}: ${why}`);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success || replaced.length > 0) {
    const problems = [...replaced, ...(parsed.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) ?? [])];
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const production = e.DEPLOYMENT_ENVIRONMENT === 'production';
  const problems: string[] = [];

  const hasLangfuseKeys = Boolean(e.LANGFUSE_PUBLIC_KEY && e.LANGFUSE_SECRET_KEY);
  if (Boolean(e.LANGFUSE_PUBLIC_KEY) !== Boolean(e.LANGFUSE_SECRET_KEY)) {
    problems.push(`${e.LANGFUSE_PUBLIC_KEY ? 'LANGFUSE_SECRET_KEY' : 'LANGFUSE_PUBLIC_KEY'}: set both Langfuse keys or neither`);
  }
  const promptSource = e.PROMPT_SOURCE ?? (hasLangfuseKeys ? 'langfuse' : 'local');
  if (promptSource === 'langfuse' && !hasLangfuseKeys) {
    problems.push('PROMPT_SOURCE: langfuse needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY');
  }
  if (production) {
    if (!e.OPENAI_API_KEY) problems.push('OPENAI_API_KEY: required when DEPLOYMENT_ENVIRONMENT=production (no offline model in production)');
    if (promptSource !== 'langfuse') problems.push('PROMPT_SOURCE: must be langfuse when DEPLOYMENT_ENVIRONMENT=production (no local prompt file in production)');
    if (e.SERVICE_API_KEYS.length === 0) problems.push('SERVICE_API_KEYS: required when DEPLOYMENT_ENVIRONMENT=production');
    if (e.INTERACTION_SIGNING_KEY.length === 0) {
      problems.push('INTERACTION_SIGNING_KEY: required when DEPLOYMENT_ENVIRONMENT=production (every replica and restart must verify the same interaction ids)');
    }
  }
  if (e.PROMPT_MAX_STALE_SECONDS < e.PROMPT_CACHE_TTL_SECONDS) {
    problems.push('PROMPT_MAX_STALE_SECONDS: must be at least PROMPT_CACHE_TTL_SECONDS');
  }
  if (e.OTEL_METRIC_EXPORT_TIMEOUT > e.OTEL_METRIC_EXPORT_INTERVAL) {
    problems.push('OTEL_METRIC_EXPORT_TIMEOUT: must not exceed OTEL_METRIC_EXPORT_INTERVAL');
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);

  return {
    openai: {
      apiKey: e.OPENAI_API_KEY,
      model: e.OPENAI_API_KEY ? e.OPENAI_MODEL : 'offline',
      baseUrl: e.OPENAI_BASE_URL,
      api: e.OPENAI_API,
      httpClient: e.OPENAI_HTTP_CLIENT,
      attemptTimeoutMs: e.OPENAI_TIMEOUT_MS,
      requestTimeoutMs: e.OPENAI_REQUEST_TIMEOUT_MS,
      maxRetries: e.OPENAI_MAX_RETRIES,
      fallbackModel: e.OPENAI_FALLBACK_MODEL,
      offline: !e.OPENAI_API_KEY,
    },
    langfuse: { publicKey: e.LANGFUSE_PUBLIC_KEY, secretKey: e.LANGFUSE_SECRET_KEY, baseUrl: e.LANGFUSE_BASE_URL },
    prompts: {
      source: promptSource,
      localFile: e.PROMPT_LOCAL_FILE,
      cacheTtlSeconds: e.PROMPT_CACHE_TTL_SECONDS,
      fetchTimeoutMs: e.PROMPT_FETCH_TIMEOUT_MS,
      maxStaleSeconds: e.PROMPT_MAX_STALE_SECONDS,
      experiment: e.PROMPT_EXPERIMENT,
      overridableLabels: e.PROMPT_OVERRIDABLE_LABELS,
    },
    telemetry: {
      disabled: e.OTEL_SDK_DISABLED,
      serviceName: e.OTEL_SERVICE_NAME,
      tracesEndpoint: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
      scheduleDelayMs: e.OTEL_BSP_SCHEDULE_DELAY,
      maxQueueSize: e.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: Math.min(e.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, e.OTEL_BSP_MAX_QUEUE_SIZE),
      exportTimeoutMs: e.OTEL_BSP_EXPORT_TIMEOUT,
      protocol: e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL,
    },
    metrics: {
      enabled: !e.OTEL_SDK_DISABLED && e.OTEL_METRICS_EXPORTER === 'otlp',
      endpoint: e.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/metrics`,
      exportIntervalMs: e.OTEL_METRIC_EXPORT_INTERVAL,
      exportTimeoutMs: e.OTEL_METRIC_EXPORT_TIMEOUT,
    },
    cost: { pricesFile: e.MODEL_PRICES_FILE },
    service: {
      agentVersion: e.AGENT_VERSION,
      environment: e.DEPLOYMENT_ENVIRONMENT,
      apiKeys: e.SERVICE_API_KEYS,
      captureMode: e.CAPTURE_MODE,
      host: e.HOST,
      port: e.PORT,
      logLevel: e.LOG_LEVEL,
      logFormat: e.LOG_FORMAT,
      maxConcurrentRequests: e.MAX_CONCURRENT_REQUESTS,
      rateLimitPerUserPerMinute: e.RATE_LIMIT_PER_USER_PER_MINUTE,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
      streamTokenCoalesceMs: e.STREAM_TOKEN_COALESCE_MS,
    },
    budget: { maxIterations: e.MAX_AGENT_ITERATIONS, maxModelCalls: e.MAX_MODEL_CALLS },
    graphLayout: e.GRAPH_LAYOUT,
    release: {
      protectedLabels: e.PROMPT_PROTECTED_LABELS,
      logFile: e.PROMPT_RELEASE_LOG,
      actor: e.PROMPT_RELEASE_ACTOR,
      datasetFile: e.RELEASE_DATASET_FILE,
      concurrency: e.RELEASE_EVAL_CONCURRENCY,
      itemTimeoutMs: e.RELEASE_EVAL_ITEM_TIMEOUT_MS,
    },
    quality: {
      signingKeys: e.INTERACTION_SIGNING_KEY,
      interactionTtlSeconds: e.INTERACTION_TTL_SECONDS,
      sendScores: promptSource === 'langfuse',
      scoreQueueSize: e.SCORE_QUEUE_SIZE,
      scoreConcurrency: e.SCORE_SEND_CONCURRENCY,
      scoreRequestTimeoutMs: e.SCORE_REQUEST_TIMEOUT_MS,
      scoreRetryMaxDelayMs: e.SCORE_RETRY_MAX_DELAY_MS,
    },
    fleet: {
      webhookSecret: e.LANGFUSE_WEBHOOK_SECRET,
      redisUrl: e.REDIS_URL,
      redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      promptSnapshotFile: promptSource === 'langfuse' && e.PROMPT_SNAPSHOT_FILE !== 'off' ? e.PROMPT_SNAPSHOT_FILE : undefined,
    },
  };
}

/** `.env` + environment → Settings, for process entry points. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return parseSettings(loadEnvironment(env));
}
