/**
 * The REAL OpenTelemetry Collector end to end:
 *
 *   OTel JS SDK ──OTLP/HTTP JSON──▶ otelcol-order-status (otel-collector.yaml, env overrides only)
 *                                      ──OTLP/HTTP proto+gzip, Basic auth, x-langfuse-ingestion-version: 4──▶
 *                                   Langfuse stand-in (test/support/otlp-receiver.ts) on /api/public/otel/v1/traces
 *
 * Binary: .cache/otelcol/otelcol-order-status (collector/build-collector.sh). When it is absent the
 * suite builds it if `go` is on PATH, and skips (one-line reason) otherwise; with
 * CI_REQUIRE_COLLECTOR=1 it always builds and never skips.
 *
 * Senders are small functions: `sendWithSdk` (hand-made spans, exact attributes under control) and
 * `runScenario` (the app's own `npm run scenario -- prompt-management`, offline model + local prompt,
 * OTEL_EXPORTER_OTLP_ENDPOINT=<collector>; skipped while scenarios/run.ts does not exist).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COLLECTOR_BIN = path.join(ROOT, '.cache', 'otelcol', 'otelcol-order-status');
const COLLECTOR_CONFIG = path.join(ROOT, 'otel-collector.yaml');
const BUILD_SCRIPT = path.join(ROOT, 'collector', 'build-collector.sh');
const REQUIRE_COLLECTOR = process.env.CI_REQUIRE_COLLECTOR === '1';

const LANGFUSE_OTEL_PATH = '/api/public/otel/v1/traces';
const PUBLIC_KEY = 'pk-lf-collector-test';
const SECRET_KEY = 'sk-lf-collector-test';

/** Child processes to kill if the worker exits without afterAll (crash, timeout). */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

const hasScenarioCli = existsSync(path.join(ROOT, 'scenarios', 'run.ts'));
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
const skipReason =
  !REQUIRE_COLLECTOR && !existsSync(COLLECTOR_BIN) && !hasGo
    ? `collector binary absent (${path.relative(ROOT, COLLECTOR_BIN)}) and no 'go' on PATH to build it`
    : undefined;

// ---------------------------------------------------------------------------
// Sender: the OpenTelemetry JS SDK as the app uses it (NodeTracerProvider + BatchSpanProcessor
// 2.x `(exporter, config)` + OTLP/HTTP JSON exporter). Not registered globally.
// ---------------------------------------------------------------------------

interface SpanSpec {
  name: string;
  attributes?: Attributes;
  children?: SpanSpec[];
}

async function sendWithSdk(otlpBaseUrl: string, roots: readonly SpanSpec[]): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'order-support-agent',
      'service.version': '0.0.0-test',
      'deployment.environment.name': 'test',
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpBaseUrl}/v1/traces`, timeoutMillis: 5_000 }), {
        scheduledDelayMillis: 50,
        maxExportBatchSize: 512,
        maxQueueSize: 4096,
      }),
    ],
  });
  const tracer = provider.getTracer('collector-pipeline-test');
  const emit = (spec: SpanSpec, parentCtx = context.active()): void => {
    const span = tracer.startSpan(spec.name, { attributes: spec.attributes ?? {} }, parentCtx);
    const ctx = trace.setSpan(parentCtx, span);
    for (const child of spec.children ?? []) emit(child, ctx);
    span.end();
  };
  for (const root of roots) emit(root);
  await provider.forceFlush();
  await provider.shutdown();
}

/**
 * The app as the sender: `npm run --silent scenario -- <name>` against the collector. Offline model and
 * local prompt file; values that a developer's `.env` could set are overridden (real env wins over .env).
 * Resolves with the scenario's stdout.
 */
function runScenario(otlpBaseUrl: string, name: string): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpBaseUrl,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlpBaseUrl}/v1/traces`,
    OTEL_SDK_DISABLED: 'false',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OPENAI_API_KEY: '',
    LANGFUSE_PUBLIC_KEY: '',
    LANGFUSE_SECRET_KEY: '',
    PROMPT_SOURCE: 'local',
    DEPLOYMENT_ENVIRONMENT: 'development',
    LOG_LEVEL: 'warn',
  };
  return new Promise((resolve, reject) => {
    const proc = spawn('npm', ['run', '--silent', 'scenario', '--', name], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    proc.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-16_000)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.once('error', reject);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(proc);
      if (code === 0) resolve(stdout);
      else reject(new Error(`scenario ${name} failed (code ${String(code)}, signal ${String(signal)}):\n${stdout}${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------
// Collector process
// ---------------------------------------------------------------------------

interface RunningCollector {
  otlpUrl: string;
  logs(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function startCollector(langfuseOtelEndpoint: string): Promise<RunningCollector> {
  const [otlpPort, healthPort] = [await freePort(), await freePort()];
  // otel-collector.yaml unchanged; only environment overrides. No inherited OTEL_/LANGFUSE_ vars.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    OTELCOL_HTTP_ENDPOINT: `127.0.0.1:${otlpPort}`,
    OTELCOL_HEALTH_ENDPOINT: `127.0.0.1:${healthPort}`,
    LANGFUSE_OTEL_ENDPOINT: langfuseOtelEndpoint,
    LANGFUSE_PUBLIC_KEY: PUBLIC_KEY,
    LANGFUSE_SECRET_KEY: SECRET_KEY,
    OTELCOL_BATCH_TIMEOUT: '200ms',
    // Short backoff so an outage recovers in about a second once Langfuse is back.
    OTELCOL_RETRY_INITIAL_INTERVAL: '200ms',
    OTELCOL_RETRY_MAX_INTERVAL: '1s',
    OTELCOL_RETRY_MAX_ELAPSED_TIME: '60s',
    OTELCOL_METRICS_LEVEL: 'none', // no :8888 listener to collide with
    OTELCOL_LOG_LEVEL: 'info',
  };
  const proc = spawn(COLLECTOR_BIN, ['--config', COLLECTOR_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-64_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = `exit code ${String(code)}, signal ${String(signal)}`;
      children.delete(proc);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exitPromise;
    clearTimeout(timer);
  };

  // Ready when the health_check extension answers 200 (pipelines started).
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`collector exited during start-up (${exited}):\n${output}`);
    try {
      const res = await fetch(`http://127.0.0.1:${healthPort}/`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`collector not healthy after 20 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { otlpUrl: `http://127.0.0.1:${otlpPort}`, logs: () => output, stop };
}

// ---------------------------------------------------------------------------

const byName = (spans: readonly ReceivedSpan[], name: string): ReceivedSpan[] => spans.filter((s) => s.name === name);

describe.skipIf(skipReason !== undefined)('collector pipeline (real otelcol → Langfuse stand-in)', () => {
  let receiver: OtlpReceiver | undefined;
  let collector: RunningCollector | undefined;

  beforeAll(async () => {
    if (!existsSync(COLLECTOR_BIN)) {
      // Idempotent; several minutes on a cold Go cache (log: /tmp/otelcol-build.log).
      const b = spawnSync('bash', [BUILD_SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 30 * 60_000 });
      if (b.status !== 0) throw new Error(`collector build failed:\n${b.stdout}${b.stderr}`);
    }
    receiver = await startOtlpReceiver({
      path: LANGFUSE_OTEL_PATH,
      basicAuth: { user: PUBLIC_KEY, pass: SECRET_KEY },
      requiredHeaders: { 'x-langfuse-ingestion-version': '4' },
    });
    collector = await startCollector(`${receiver.url}/api/public/otel`);
  }, 35 * 60_000);

  afterAll(async () => {
    await collector?.stop();
    await receiver?.close();
  });

  const rx = (): OtlpReceiver => {
    if (!receiver) throw new Error('receiver not started');
    return receiver;
  };
  const col = (): RunningCollector => {
    if (!collector) throw new Error('collector not started');
    return collector;
  };

  it('forwards spans with Basic auth, the v4 header and an INTEGER prompt version', async () => {
    rx().reset();
    const traceAttrs: Attributes = {
      'langfuse.trace.name': 'collector-pipeline-test',
      'langfuse.session.id': 'conv_collector_test',
      'langfuse.user.id': 'usr_pseudo_collector',
      'langfuse.trace.tags': ['order-status', 'collector-test'],
    };
    await sendWithSdk(col().otlpUrl, [
      {
        name: 'invoke_agent order-status',
        attributes: { ...traceAttrs, 'app.task.outcome': 'answer' },
        children: [
          {
            name: 'openai.responses.create',
            attributes: {
              ...traceAttrs,
              'gen_ai.operation.name': 'chat',
              'gen_ai.provider.name': 'openai',
              'gen_ai.request.model': 'offline',
              'gen_ai.usage.input_tokens': 42,
              'langfuse.observation.type': 'generation',
              'langfuse.observation.prompt.name': 'order-status-answer',
              'langfuse.observation.prompt.version': 3,
              'langfuse.observation.metadata.prompt_label': 'production',
            },
          },
        ],
      },
    ]);

    const spans = await rx().waitForSpans((s) => byName(s, 'openai.responses.create').length > 0 && byName(s, 'invoke_agent order-status').length > 0, 15_000);
    const root = byName(spans, 'invoke_agent order-status')[0] as ReceivedSpan;
    const model = byName(spans, 'openai.responses.create')[0] as ReceivedSpan;

    expect(model.attributes['langfuse.observation.prompt.version']).toBe(3);
    expect(model.attributeTypes['langfuse.observation.prompt.version']).toBe('int');
    expect(model.attributeTypes['gen_ai.usage.input_tokens']).toBe('int');
    expect(model.attributes['langfuse.observation.prompt.name']).toBe('order-status-answer');
    expect(model.attributes['langfuse.trace.name']).toBe('collector-pipeline-test');
    expect(model.attributes['langfuse.trace.tags']).toEqual(['order-status', 'collector-test']);
    expect(model.attributeTypes['langfuse.trace.tags']).toBe('array');
    expect(model.traceId).toBe(root.traceId);
    expect(model.parentSpanId).toBe(root.spanId);
    expect(model.resource['service.name']).toBe('order-support-agent');
    expect(spans).toHaveLength(2);

    const accepted = rx().requests.filter((r) => r.status === 200);
    expect(accepted.length).toBeGreaterThan(0);
    expect(rx().requests.filter((r) => r.status !== 200), col().logs()).toEqual([]);
    for (const r of accepted) {
      expect(r.path).toBe(LANGFUSE_OTEL_PATH);
      expect(r.headers.authorization).toBe(`Basic ${Buffer.from(`${PUBLIC_KEY}:${SECRET_KEY}`).toString('base64')}`);
      expect(r.headers['x-langfuse-ingestion-version']).toBe('4');
      expect(r.contentType).toMatch(/application\/x-protobuf/);
      expect(r.contentEncoding).toBe('gzip');
    }
  });

  it.skipIf(!hasScenarioCli)('carries a real scenario run (npm run scenario -- prompt-management) intact', async () => {
    rx().reset();
    const stdout = await runScenario(col().otlpUrl, 'prompt-management');
    expect(stdout).toBe('answer\n');
    const spans = await rx().waitForSpans(
      (s) =>
        s.some((x) => x.name === 'openai.responses.create' && x.attributes['langfuse.trace.name'] === 'manual-prompt-management') &&
        s.some((x) => x.name === 'invoke_agent order-status'),
      15_000,
    );
    const model = spans.find((x) => x.name === 'openai.responses.create') as ReceivedSpan;
    const root = spans.find((x) => x.name === 'invoke_agent order-status') as ReceivedSpan;
    expect(root).toBeDefined();
    expect(model.traceId).toBe(root.traceId);
    // Local prompt file (PROMPT_SOURCE=local): the generation claims no Langfuse prompt link;
    // compose_answer says which local version answered (an int, as Langfuse's would be).
    expect(model.attributes['langfuse.observation.type']).toBe('generation');
    expect(model.attributes['langfuse.observation.prompt.version']).toBeUndefined();
    expect(model.attributes['langfuse.observation.prompt.name']).toBeUndefined();
    const compose = spans.find((x) => x.name === 'workflow.node compose_answer') as ReceivedSpan;
    expect(compose.attributes).toMatchObject({ 'app.prompt.fetch.source': 'local', 'app.prompt.version': 1 });
    expect(compose.attributeTypes['app.prompt.version']).toBe('int');
    expect(model.attributes['langfuse.user.id']).toBe('usr_pseudo_prompt_demo');
    // One run, one trace: every span the scenario produced arrived in the same trace.
    expect(new Set(spans.map((x) => x.traceId)).size).toBe(1);
    expect(rx().requests.filter((r) => r.status !== 200), col().logs()).toEqual([]);
  }, 60_000);

  it('loses and duplicates nothing while Langfuse answers 503, then delivers everything once', async () => {
    rx().reset();
    rx().setFailing(503);
    const N = 50;
    const names = Array.from({ length: N }, (_, i) => `outage-span-${String(i).padStart(2, '0')}`);
    await sendWithSdk(
      col().otlpUrl,
      names.map((name, i) => ({ name, attributes: { 'langfuse.trace.name': 'collector-outage-test', 'test.seq': i } })),
    );

    // The collector accepted the spans (queue) and keeps retrying against the failing stand-in.
    const outageStart = Date.now();
    while (Date.now() - outageStart < 10_000 && rx().requests.filter((r) => r.status === 503).length < 2) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const rejected = rx().requests.filter((r) => r.status === 503).length;
    expect(rejected, `collector never retried:\n${col().logs()}`).toBeGreaterThanOrEqual(2);
    expect(rx().spans).toHaveLength(0);

    rx().setFailing(null);
    const recoveredAt = Date.now();
    await rx().waitForSpans((s) => s.filter((x) => x.name.startsWith('outage-span-')).length >= N, 20_000);
    const recoverySeconds = (Date.now() - recoveredAt) / 1000;
    // Linger briefly: a duplicate would arrive right behind the originals.
    await new Promise((r) => setTimeout(r, 1_500));

    const received = rx().spans.filter((s) => s.name.startsWith('outage-span-'));
    const ids = new Set(received.map((s) => s.spanId));
    expect(ids.size, 'duplicate spans delivered').toBe(received.length);
    expect(received).toHaveLength(N);
    expect(received.map((s) => s.name).sort()).toEqual(names);
    for (const s of received) expect(s.attributeTypes['test.seq']).toBe('int');
    expect(recoverySeconds).toBeLessThan(20);
  }, 45_000);

  it('drops (does not retry) a batch Langfuse rejects permanently, e.g. 401 on wrong keys', async () => {
    rx().reset();
    rx().failNext(1, 401);
    await sendWithSdk(col().otlpUrl, [{ name: 'rejected-span', attributes: { 'langfuse.trace.name': 'collector-401-test' } }]);
    await rx().waitForSpans(() => rx().requests.some((r) => r.status === 401), 10_000);
    // Longer than several retry intervals (200 ms … 1 s): a retry would show up as a second request.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(rx().requests.map((r) => r.status)).toEqual([401]);
    expect(byName(rx().spans, 'rejected-span')).toHaveLength(0);
    // The pipeline is still healthy afterwards.
    await sendWithSdk(col().otlpUrl, [{ name: 'after-401', attributes: { 'langfuse.trace.name': 'collector-401-test' } }]);
    await rx().waitForSpans((s) => byName(s, 'after-401').length === 1, 10_000);
  }, 30_000);
});

if (skipReason !== undefined) {
  describe('collector pipeline (real otelcol → Langfuse stand-in)', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
}
