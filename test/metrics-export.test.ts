/**
 * Metrics leave the real processes over OTLP/HTTP (SPEC §13): the server and the
 * scenario CLI push to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/metrics, flush on
 * shutdown, and stay quiet when metrics are off.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpReceiver, type OtlpMetricExport, type OtlpReceiver } from './support/otlp-receiver.js';
import { runNodeScript } from './support/processes.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';

let otlp: OtlpReceiver;
let server: ServerProcess | undefined;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
});
afterAll(async () => otlp.close());
afterEach(async () => {
  await server?.stop();
  server = undefined;
  otlp.reset();
});

/** Offline model, local prompt: nothing but the OTLP endpoint outside the process. */
const env = (extra: Record<string, string> = {}) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  // Long: what arrives below was flushed at shutdown, not pushed on a timer.
  OTEL_METRIC_EXPORT_INTERVAL: '600000',
  OTEL_METRIC_EXPORT_TIMEOUT: '5000',
  ...extra,
});

/** Data points of `name` across every export: [attributes, value] with the OTLP JSON shapes flattened. */
function points(exports: readonly OtlpMetricExport[], name: string): { attributes: Record<string, unknown>; value: number }[] {
  const out: { attributes: Record<string, unknown>; value: number }[] = [];
  for (const e of exports) {
    for (const rm of e.resourceMetrics) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          if (m.name !== name) continue;
          const data = (m.sum ?? m.histogram) as { dataPoints: { attributes?: { key: string; value: Record<string, unknown> }[]; asDouble?: number; asInt?: number; count?: number }[] };
          for (const p of data.dataPoints) {
            const attributes = Object.fromEntries((p.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
            out.push({ attributes, value: Number(p.asDouble ?? p.asInt ?? p.count) });
          }
        }
      }
    }
  }
  return out;
}

const resourceAttribute = (e: OtlpMetricExport, key: string): unknown =>
  Object.values(e.resourceMetrics[0]?.resource?.attributes?.find((a) => a.key === key)?.value ?? {})[0];

describe('metrics over OTLP/HTTP from the real processes', () => {
  it('the server pushes its metrics to /v1/metrics and flushes them on SIGTERM', async () => {
    server = await startServerProcess(env());
    for (const user of ['usr_export_01', 'usr_export_02']) expect((await postOrderStatus(server.url, user)).status).toBe(200);
    expect(otlp.metricExports).toHaveLength(0);
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });

    expect(otlp.metricExports.length).toBeGreaterThan(0);
    const runs = points(otlp.metricExports, 'app.agent.runs');
    expect(runs).toEqual([{ attributes: { 'app.task.outcome': 'answer' }, value: 2 }]);
    const http = points(otlp.metricExports, 'http.server.request.duration').filter((p) => p.attributes['http.route'] === '/order-status');
    expect(http).toEqual([{ attributes: { 'http.request.method': 'POST', 'http.route': '/order-status', 'http.response.status_code': 200 }, value: 2 }]);
    expect(points(otlp.metricExports, 'gen_ai.client.token.usage').map((p) => p.attributes['gen_ai.token.type']).sort()).toEqual(['input', 'output']);
    const first = otlp.metricExports[0] as OtlpMetricExport;
    expect(resourceAttribute(first, 'service.name')).toBe('order-support-agent');
    expect(String(resourceAttribute(first, 'service.instance.id'))).toMatch(/^[0-9a-f-]{36}$/);
  }, 60_000);

  it('the scenario CLI flushes its metrics before exiting', async () => {
    const result = await runNodeScript('scenarios/run.ts', ['prompt-management'], { ...env(), LOG_LEVEL: 'warn' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('answer\n');
    expect(points(otlp.metricExports, 'app.prompt.resolutions')).toEqual([
      { attributes: { 'app.prompt.label': 'production', 'app.prompt.version': 1, 'app.prompt.fetch.source': 'local' }, value: 1 },
    ]);
  }, 60_000);

  it('OTEL_METRICS_EXPORTER=none: spans still go, metrics do not', async () => {
    server = await startServerProcess(env({ OTEL_METRICS_EXPORTER: 'none' }));
    expect((await postOrderStatus(server.url)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(otlp.spans.length).toBeGreaterThan(0);
    expect(otlp.metricExports).toEqual([]);
  }, 60_000);

  it('a Collector that refuses metrics costs one short log line, not a stack trace per export', async () => {
    const dead = 'http://127.0.0.1:9/v1/metrics';
    server = await startServerProcess(env({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: dead, OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_METRIC_EXPORT_TIMEOUT: '500' }));
    expect((await postOrderStatus(server.url)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_500));
    const failures = server.logs().filter((l) => l.includes('metrics export failed'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).not.toContain('stack');
    expect((await postOrderStatus(server.url)).status).toBe(200);
  }, 60_000);
});
