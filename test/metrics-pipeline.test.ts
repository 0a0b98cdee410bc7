/**
 * Metrics end to end with the real tools (SPEC §13):
 *
 *   npm start's server ──OTLP/HTTP──▶ otelcol-order-status (otel-collector.yaml) ──prometheus exporter──▶
 *   Prometheus (Debian's binary; prometheus/prometheus.yml + prometheus/alerts.yml, `for` shortened)
 *
 * all on free 127.0.0.1 ports, with an OpenAI stand-in that answers, then fails. Prometheus's
 * HTTP API must show the service's request rate, latency, tokens and cost by prompt version, the
 * seven rules, and OrderStatusModelErrors pending or firing.
 *
 * Needs .cache/otelcol/otelcol-order-status (built when `go` is there) and `prometheus` on PATH;
 * skipped with the reason otherwise, unless CI_REQUIRE_COLLECTOR=1 / CI_REQUIRE_PROMETHEUS=1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COLLECTOR_BIN = path.join(ROOT, '.cache', 'otelcol', 'otelcol-order-status');
const BUILD_SCRIPT = path.join(ROOT, 'collector', 'build-collector.sh');
const REQUIRE = process.env.CI_REQUIRE_COLLECTOR === '1' || process.env.CI_REQUIRE_PROMETHEUS === '1';
const hasPrometheus = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
const skipReason = REQUIRE
  ? undefined
  : !hasPrometheus
    ? 'prometheus not installed (Debian: apt-get install prometheus)'
    : !existsSync(COLLECTOR_BIN) && !hasGo
      ? 'collector binary absent and no go to build it'
      : undefined;

const OPENAI_KEY = 'sk-metrics-pipeline-0000';
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Daemon {
  logs(): string;
  stop(): Promise<void>;
}

/** Starts a binary, keeps its output, and waits until `readyUrl` answers 200. */
async function startDaemon(name: string, bin: string, args: string[], env: NodeJS.ProcessEnv, readyUrl: string): Promise<Daemon> {
  const proc = spawn(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-64_000));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      exited = `code ${String(code)}, signal ${String(signal)}`;
      children.delete(proc);
      resolve();
    }),
  );
  const stop = async () => {
    if (exited !== undefined) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`${name} exited during start-up (${exited}):\n${output}`);
    const ok = await fetch(readyUrl, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready after 30 s:\n${output}`);
    }
    await sleep(100);
  }
  return { logs: () => output, stop };
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(skipReason !== undefined)('metrics pipeline (service → real Collector → real Prometheus)', () => {
  let dir = '';
  let openai: OpenAIStandIn;
  let langfuse: OtlpReceiver;
  let collector: Daemon | undefined;
  let prometheus: Daemon | undefined;
  let server: ServerProcess | undefined;
  let promUrl = '';

  const query = async (promql: string): Promise<PromSample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: PromSample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error ?? res.status}`);
    return body.data.result;
  };
  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}\n--- collector ---\n${collector?.logs().slice(-3_000)}\n--- prometheus ---\n${prometheus?.logs().slice(-3_000)}`);
      }
      await sleep(500);
    }
  };

  beforeAll(async () => {
    if (!existsSync(COLLECTOR_BIN)) {
      const b = spawnSync('bash', [BUILD_SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 30 * 60_000 });
      if (b.status !== 0) throw new Error(`collector build failed:\n${b.stdout}${b.stderr}`);
    }
    if (!hasPrometheus) throw new Error('prometheus is not on PATH (apt-get install prometheus)');
    dir = mkdtempSync(path.join(tmpdir(), 'metrics-pipeline-'));
    openai = await startOpenAIStandIn({ apiKey: OPENAI_KEY, record: false });
    langfuse = await startOtlpReceiver({ path: '/api/public/otel/v1/traces' });

    const [otlpPort, healthPort, exporterPort, promPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    collector = await startDaemon(
      'collector',
      COLLECTOR_BIN,
      ['--config', path.join(ROOT, 'otel-collector.yaml')],
      {
        OTELCOL_HTTP_ENDPOINT: `127.0.0.1:${otlpPort}`,
        OTELCOL_HEALTH_ENDPOINT: `127.0.0.1:${healthPort}`,
        OTELCOL_PROMETHEUS_ENDPOINT: `127.0.0.1:${exporterPort}`,
        OTELCOL_BATCH_TIMEOUT: '200ms',
        OTELCOL_METRICS_LEVEL: 'none',
        LANGFUSE_OTEL_ENDPOINT: `${langfuse.url}/api/public/otel`,
        LANGFUSE_PUBLIC_KEY: 'pk-lf-metrics',
        LANGFUSE_SECRET_KEY: 'sk-lf-metrics',
      },
      `http://127.0.0.1:${healthPort}/`,
    );

    // The repo's Prometheus config and rules, pointed at this Collector, 1 s intervals and `for` 5 s.
    const config = parseYaml(readFileSync(path.join(ROOT, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
    config.rule_files = ['alerts.yml'];
    (config.scrape_configs[0] as { static_configs: { targets: string[] }[] }).static_configs = [{ targets: [`127.0.0.1:${exporterPort}`] }];
    writeFileSync(path.join(dir, 'prometheus.yml'), toYaml(config));
    const rules = parseYaml(readFileSync(path.join(ROOT, 'prometheus', 'alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; for?: string }[] }[] };
    for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.alert) rule.for = '5s';
    writeFileSync(path.join(dir, 'alerts.yml'), toYaml(rules));
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = await startDaemon(
      'prometheus',
      'prometheus',
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      {},
      `${promUrl}/-/ready`,
    );

    server = await startServerProcess({
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_MODEL: 'gpt-4o-mini',
      OPENAI_MAX_RETRIES: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_METRIC_EXPORT_TIMEOUT: '1000',
    });
  }, 35 * 60_000);

  afterAll(async () => {
    await server?.stop();
    await prometheus?.stop();
    await collector?.stop();
    await openai?.close();
    await langfuse?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows request rate, latency, tokens and cost by prompt version, and a model-error alert', async () => {
    const url = (server as ServerProcess).url;
    // Healthy traffic first; failures are paced over several scrapes, so rate() sees them grow.
    for (let i = 0; i < 10; i += 1) expect((await postOrderStatus(url, `usr_pipeline_${i % 3}`)).status).toBe(200);
    await waitFor('app_agent_runs_total in Prometheus', async () => (await query('app_agent_runs_total')).length > 0);
    openai.setFault({ status: 500 });
    for (let i = 0; i < 30; i += 1) {
      expect((await postOrderStatus(url, `usr_pipeline_${i % 3}`)).status).toBe(502);
      await sleep(200);
    }

    await waitFor('OrderStatusModelErrors pending or firing', async () => {
      const res = await fetch(`${promUrl}/api/v1/alerts`);
      const body = (await res.json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
      return body.data.alerts.some((a) => a.labels.alertname === 'OrderStatusModelErrors' && ['pending', 'firing'].includes(a.state));
    });

    // Request rate and latency (the README's example queries).
    const rate = await query('sum by (http_response_status_code) (rate(http_server_request_duration_seconds_count{http_route="/order-status"}[1m]))');
    expect(rate.map((s) => s.metric.http_response_status_code).sort()).toEqual(['200', '502']);
    const p95 = await query('histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket{http_route="/order-status"}[1m])))');
    expect(Number(p95[0]?.value[1])).toBeGreaterThan(0);
    // Outcomes, tokens and cost by prompt version, from the one replica (job = service.name, instance = its id).
    await waitFor('all 30 failed runs scraped', async () => Number((await query('app_agent_runs_total{app_task_outcome="error"}'))[0]?.value[1]) === 30);
    const runs = await query('app_agent_runs_total');
    expect(Object.fromEntries(runs.map((s) => [s.metric.app_task_outcome, Number(s.value[1])]))).toEqual({ answer: 10, error: 30 });
    for (const s of runs) {
      expect(s.metric.job).toBe('order-support-agent');
      expect(s.metric.instance).toMatch(/^[0-9a-f-]{36}$/);
    }
    // The resource rides on target_info: release and environment, for the runbooks' "what changed".
    const target = await query('target_info');
    expect(target[0]?.metric).toMatchObject({ job: 'order-support-agent', service_version: '0.1.0', deployment_environment_name: 'development' });
    const tokens = await query('sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum)');
    expect(tokens.map((s) => s.metric.gen_ai_token_type).sort()).toEqual(['input', 'output']);
    const cost = await query('sum by (app_prompt_version, gen_ai_request_model) (app_llm_cost_USD_total)');
    expect(cost).toHaveLength(1);
    expect(cost[0]?.metric).toMatchObject({ app_prompt_version: '1', gen_ai_request_model: 'gpt-4o-mini' });
    expect(Number(cost[0]?.value[1])).toBeGreaterThan(0);
    const errors = await query('sum by (error_type) (gen_ai_client_operation_duration_seconds_count{error_type!=""})');
    expect(errors.map((s) => s.metric.error_type)).toEqual(['InternalServerError']);

    // The rules page lists the seven alerts.
    const rulesRes = (await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
    expect(rulesRes.data.groups.flatMap((g) => g.rules.map((r) => r.name)).sort()).toEqual(
      [
        'OrderStatusAvailabilityBurn',
        'OrderStatusCostPerHourHigh',
        'OrderStatusLatencyP95High',
        'OrderStatusModelErrors',
        'OrderStatusNegativeFeedbackHigh',
        'OrderStatusPromptServedFromCache',
        'OrderStatusPromptUnavailable',
      ],
    );
  }, 180_000);
});
