import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigError, loadEnvironment, parseSettings, type Settings } from './config/settings.js';
import { redactRedisUrl } from './fleet/redis-link.js';
import { WEBHOOK_PATH } from './http/routes/langfuse-webhook.js';
import { SIGNATURE_HEADER, signLangfuseWebhook } from './http/webhook-signature.js';
import { DEFAULT_PROMPT_LABEL, PROMPT_NAME } from './prompts/prompt-template.js';

/** `npm run doctor`: is the configured stack usable? One line per check, with a fix hint. */

export interface CheckResult {
  ok: boolean;
  name: string;
  detail: string;
  hint?: string;
}

const TIMEOUT_MS = 3_000;

async function get(url: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
}

function unreachable(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(error));
}

async function checkLangfuse(settings: Settings): Promise<CheckResult[]> {
  const { baseUrl, publicKey, secretKey } = settings.langfuse;
  if (settings.prompts.source === 'local') {
    return [{ ok: true, name: 'prompts', detail: `local file ${settings.prompts.localFile} (no Langfuse keys)`, hint: 'set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY to use Langfuse prompt management' }];
  }
  const results: CheckResult[] = [];
  try {
    const health = await get(`${baseUrl}/api/public/health`);
    results.push(health.ok
      ? { ok: true, name: 'langfuse health', detail: `${baseUrl} is up` }
      : { ok: false, name: 'langfuse health', detail: `${baseUrl}/api/public/health answered ${health.status}`, hint: 'langfuse-web may still be migrating: `docker compose ps`, then retry' });
  } catch (error) {
    return [{ ok: false, name: 'langfuse health', detail: `cannot reach ${baseUrl}: ${unreachable(error)}`, hint: 'start it with `docker compose up -d` or fix LANGFUSE_BASE_URL' }];
  }
  const auth = { authorization: `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString('base64')}` };
  const labels = [DEFAULT_PROMPT_LABEL, ...settings.prompts.experiment.map((arm) => arm.label)];
  let keysRejected = false;
  for (const label of labels) {
    const response = await get(`${baseUrl}/api/public/v2/prompts/${encodeURIComponent(PROMPT_NAME)}?label=${encodeURIComponent(label)}`, auth).catch(() => undefined);
    if (!response) {
      results.push({ ok: false, name: `prompt ${label}`, detail: 'request failed', hint: 'retry; check LANGFUSE_BASE_URL' });
    } else if (response.status === 401 || response.status === 403) {
      results.push({ ok: false, name: 'langfuse keys', detail: `rejected (${response.status})`, hint: 'check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY (compose creates the project with exactly these)' });
      keysRejected = true;
      break;
    } else if (response.status === 404) {
      results.push({ ok: false, name: `prompt ${label}`, detail: `'${PROMPT_NAME}' has no version labelled ${label}`, hint: 'run `npm run prompts -- seed` (or promote a version to this label)' });
    } else if (response.ok) {
      const prompt = (await response.json()) as { version?: number };
      results.push({ ok: true, name: `prompt ${label}`, detail: `'${PROMPT_NAME}' version ${prompt.version}` });
    } else {
      results.push({ ok: false, name: `prompt ${label}`, detail: `answered ${response.status}`, hint: 'check the Langfuse logs' });
    }
  }
  if (!keysRejected) results.push(await checkScores(baseUrl, auth));
  return results;
}

/**
 * Would Langfuse take the service's scores (feedback, signals, automatic checks)? Posts an empty
 * score: Langfuse authenticates, then rejects the body (400 "Invalid request data"), so nothing
 * is written.
 */
async function checkScores(baseUrl: string, auth: Record<string, string>): Promise<CheckResult> {
  const url = `${baseUrl}/api/public/scores`;
  try {
    const response = await get(url, { ...auth, 'content-type': 'application/json' }, { method: 'POST', body: '{}' });
    const body = (await response.json().catch(() => undefined)) as { message?: string } | undefined;
    if (response.status === 400 && body?.message === 'Invalid request data') return { ok: true, name: 'scores', detail: `${url} accepts the keys (probe rejected as meant: nothing written)` };
    if (response.status === 401 || response.status === 403) return { ok: false, name: 'scores', detail: `${url} rejected the keys (${response.status})`, hint: 'check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY' };
    return { ok: false, name: 'scores', detail: `${url} answered ${response.status}${body?.message ? `: ${body.message}` : ''}`, hint: 'feedback and signal scores will queue and retry: check the Langfuse logs (worker, ingestion)' };
  } catch (error) {
    return { ok: false, name: 'scores', detail: `cannot reach ${url}: ${unreachable(error)}`, hint: 'check LANGFUSE_BASE_URL' };
  }
}

async function checkCollector(settings: Settings): Promise<CheckResult> {
  if (settings.telemetry.disabled) return { ok: true, name: 'collector', detail: 'tracing disabled (OTEL_SDK_DISABLED=true)' };
  const endpoint = settings.telemetry.tracesEndpoint;
  try {
    // An empty export is valid OTLP: the Collector answers 200 without forwarding anything.
    const response = await get(endpoint, { 'content-type': 'application/json' }, { method: 'POST', body: '{"resourceSpans":[]}' });
    return response.ok
      ? { ok: true, name: 'collector', detail: `${endpoint} accepts OTLP/HTTP` }
      : { ok: false, name: 'collector', detail: `${endpoint} answered ${response.status}`, hint: 'the URL must end in /v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT is the base)' };
  } catch (error) {
    return { ok: false, name: 'collector', detail: `cannot reach ${endpoint}: ${unreachable(error)}`, hint: 'start it with `docker compose up -d otel-collector` or fix OTEL_EXPORTER_OTLP_ENDPOINT' };
  }
}

async function checkOpenAi(settings: Settings): Promise<CheckResult> {
  const { apiKey, baseUrl, model } = settings.openai;
  if (!apiKey) return { ok: true, name: 'model', detail: 'offline model (no OPENAI_API_KEY)', hint: 'set OPENAI_API_KEY for real answers' };
  const base = (baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  try {
    const response = await get(`${base}/models`, { authorization: `Bearer ${apiKey}` });
    if (response.status === 401) return { ok: false, name: 'model', detail: `${base} rejected OPENAI_API_KEY (401)`, hint: 'check OPENAI_API_KEY' };
    return response.ok
      ? { ok: true, name: 'model', detail: `${base} accepts the key; model ${model}` }
      : { ok: false, name: 'model', detail: `${base}/models answered ${response.status}`, hint: 'OPENAI_BASE_URL must include /v1' };
  } catch (error) {
    return { ok: false, name: 'model', detail: `cannot reach ${base}: ${unreachable(error)}`, hint: 'check OPENAI_BASE_URL and the network' };
  }
}

/** The running service's base URL as this machine reaches it (HOST 0.0.0.0 → 127.0.0.1). */
export function defaultServiceUrl(settings: Settings): string {
  const host = ['0.0.0.0', '::', ''].includes(settings.service.host) ? '127.0.0.1' : settings.service.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${settings.service.port}`;
}

/**
 * Is the webhook secret set, and does the running service verify it? Posts a self-signed test
 * event of a type the route acknowledges and ignores: nothing is refetched.
 */
async function checkWebhook(settings: Settings, serviceUrl: string): Promise<CheckResult> {
  const secret = settings.fleet.webhookSecret;
  if (!secret) {
    return {
      ok: true,
      name: 'webhook',
      detail: 'LANGFUSE_WEBHOOK_SECRET not set: a label moved in Langfuse reaches each replica within PROMPT_CACHE_TTL_SECONDS',
      hint: 'create the automation in Langfuse (README "Running a fleet") and set LANGFUSE_WEBHOOK_SECRET',
    };
  }
  const url = `${serviceUrl}${WEBHOOK_PATH}`;
  const body = JSON.stringify({ id: `doctor-${randomUUID()}`, timestamp: new Date().toISOString(), type: 'doctor-test', apiVersion: 'v1' });
  try {
    const response = await get(url, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signLangfuseWebhook(secret, body, Date.now() / 1000) }, { method: 'POST', body });
    const status = response.ok ? ((await response.json()) as { status?: string }).status : undefined;
    if (status === 'ignored') return { ok: true, name: 'webhook', detail: `secret set; ${url} verified a signed test event` };
    if (response.status === 401) return { ok: false, name: 'webhook', detail: `${url} refused the signature (401)`, hint: 'the service runs with another LANGFUSE_WEBHOOK_SECRET: restart it after changing .env' };
    if (response.status === 404) return { ok: false, name: 'webhook', detail: `${url} does not exist (404)`, hint: 'the service runs without LANGFUSE_WEBHOOK_SECRET: set it and restart' };
    return { ok: false, name: 'webhook', detail: `${url} answered ${response.status}`, hint: 'check the service log' };
  } catch (error) {
    return { ok: false, name: 'webhook', detail: `cannot reach ${url}: ${unreachable(error)}`, hint: 'start the service (npm start, or docker compose --profile app up -d), or pass --service-url' };
  }
}

/** Redis answers PING (only when REDIS_URL is set; the service runs without it, per process). */
async function checkRedis(settings: Settings): Promise<CheckResult | undefined> {
  const url = settings.fleet.redisUrl;
  if (!url) return undefined;
  const target = redactRedisUrl(url);
  const client = new Redis(url, { lazyConnect: true, connectTimeout: TIMEOUT_MS, commandTimeout: TIMEOUT_MS, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  // The connection error says why (ECONNREFUSED, ENOTFOUND, WRONGPASS); the rejected call only says "closed".
  let cause: (Error & { code?: string }) | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
    const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1];
    return { ok: true, name: 'redis', detail: `${target} answers (Redis ${version ?? 'unknown version'}): limits and prompt changes shared by replicas` };
  } catch (error) {
    return {
      ok: false,
      name: 'redis',
      detail: `cannot reach ${target}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      hint: 'start it (docker compose up -d agent-redis) or fix REDIS_URL; until then each replica limits and refreshes on its own',
    };
  } finally {
    client.disconnect();
  }
}

export async function runDoctor(settings: Settings, options: { serviceUrl?: string } = {}): Promise<CheckResult[]> {
  const [langfuse, collector, model, webhook, redis] = await Promise.all([
    checkLangfuse(settings),
    checkCollector(settings),
    checkOpenAi(settings),
    checkWebhook(settings, options.serviceUrl ?? defaultServiceUrl(settings)),
    checkRedis(settings),
  ]);
  return [...langfuse, collector, model, webhook, ...(redis ? [redis] : [])];
}

export function formatResult(r: CheckResult): string {
  return `${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(16)} ${r.detail}${r.hint && !r.ok ? `  → ${r.hint}` : ''}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'service-url': { type: 'string' } } });
  let settings: Settings;
  try {
    settings = parseSettings(loadEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stdout.write(`FAIL  config           ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const results = await runDoctor(settings, { serviceUrl: values['service-url']?.replace(/\/+$/, '') });
  for (const r of results) process.stdout.write(`${formatResult(r)}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
