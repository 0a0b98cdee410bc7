/**
 * `npm run bench` — the service's overhead as ratios to bare baselines, on 127.0.0.1, bounded.
 *
 * Every server under test runs in its own process (started with `--node`, default: this node);
 * the load generator (autocannon, bench/load-generator.ts), the OpenAI stand-ins and the OTLP
 * sink are separate processes too. Only the Langfuse prompt stand-in runs inside this driver
 * process, so that its prompt-fetch counter can be read directly. See bench/README.md.
 *
 * Sections (`--only a,b`): overhead, tracing, concurrency, prompts, soak, streaming (default: all six), and
 * profile (only when named: --cpu-prof of the service under the 0 ms load, summarised by package).
 * Options: --quick, --node <path>, --server-flags "<node flags>", --rounds N, --duration S,
 *          --connections N, --concurrency N, --soak-requests N, --soak-max-seconds S.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLangfusePromptStandIn, type LangfusePromptSeed, type LangfusePromptStandIn } from '../test/support/langfuse-prompt-stand-in.js';
import { formatSummary, summariseProfile } from './cpuprofile-summary.js';
import type { LoadResult, LoadSpec } from './load-generator.js';
import { LoadGenerator } from './lib/load-generator-client.js';
import { cpuMs, freePort, ManagedProcess, openFileLimit, RssSampler, sleep, statusMiB, stopAllStarted } from './lib/proc.js';
import { fmt, fmtInt, fmtX, median, ratio, table } from './lib/stats.js';
import type { SinkStats } from './otlp-sink.js';
import { streamingSection } from './streaming.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECTIONS = ['overhead', 'tracing', 'concurrency', 'prompts', 'soak', 'streaming', 'profile'] as const;
type Section = (typeof SECTIONS)[number];
/** `profile` runs only when asked for (`--only profile`). */
const DEFAULT_SECTIONS: readonly Section[] = ['overhead', 'tracing', 'concurrency', 'prompts', 'soak', 'streaming'];

const OPENAI_KEY = 'sk-bench-0000000000000000';
const LF_PUBLIC = 'pk-lf-bench';
const LF_SECRET = 'sk-lf-bench';
/** Langfuse stand-in latency while counting prompt fetches: a request that waited on a fetch takes at least this long. */
const LANGFUSE_PROBE_DELAY_MS = 1_000;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** Extra variants for the overhead section, measured in the same interleaved rounds (not in the targets). */
const COMPARE_VARIANTS = ['stock', 'per-step-graph', 'sampler-off', 'semi-space-32'] as const;
type CompareVariant = (typeof COMPARE_VARIANTS)[number];

interface Config {
  quick: boolean;
  compare: CompareVariant[];
  nodeBin: string;
  serverFlags: string[];
  /** `--only profile`: profile the service with tracing `on` (default) or `off`. */
  profileTracing: boolean;
  only: Set<Section>;
  rounds: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  concurrency: number;
  concurrencyRequestsPerConnection: number;
  concurrencyRounds: number;
  modelLatencyMs: number;
  promptRequests: number;
  refreshProbeRequests: number;
  refreshProbeTtlSeconds: number;
  soakRequests: number;
  soakMaxSec: number;
}

function onOff(value: string, option: string): boolean {
  if (value !== 'on' && value !== 'off') throw new Error(`--${option} takes on or off`);
  return value === 'on';
}

function parseOptions(argv: readonly string[]): Config {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      values.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (['quick', 'help'].includes(arg.slice(2))) {
      flags.add(arg.slice(2));
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      values.set(arg.slice(2), next);
      i += 1;
    }
  }
  if (flags.has('help')) {
    process.stdout.write(readFileSync(path.join(ROOT, 'bench/README.md'), 'utf8'));
    process.exit(0);
  }
  const known = new Set(['compare', 'node', 'server-flags', 'profile-tracing', 'only', 'rounds', 'duration', 'warmup', 'connections', 'concurrency', 'soak-requests', 'soak-max-seconds', 'prompt-requests', 'model-latency-ms']);
  for (const key of values.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`);
  const quick = flags.has('quick');
  const num = (key: string, full: number, quickValue: number) => {
    const raw = values.get(key);
    const n = raw === undefined ? (quick ? quickValue : full) : Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${key} must be a positive number`);
    return n;
  };
  const only = new Set<Section>();
  for (const s of (values.get('only') ?? DEFAULT_SECTIONS.join(',')).split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section ${s} (one of ${SECTIONS.join(', ')})`);
    only.add(s as Section);
  }
  const nodeBin = values.get('node') ?? process.execPath;
  if (!existsSync(nodeBin)) throw new Error(`--node ${nodeBin}: no such file`);
  const compare = (values.get('compare') ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const c of compare) if (!(COMPARE_VARIANTS as readonly string[]).includes(c)) throw new Error(`--compare: unknown variant ${c} (one of ${COMPARE_VARIANTS.join(', ')})`);
  return {
    quick,
    compare: compare as CompareVariant[],
    nodeBin: path.resolve(nodeBin),
    serverFlags: (values.get('server-flags') ?? '').split(/\s+/).filter(Boolean),
    profileTracing: onOff(values.get('profile-tracing') ?? 'on', 'profile-tracing'),
    only,
    rounds: num('rounds', 5, 3),
    durationSec: num('duration', 8, 3),
    // JIT steady state: with 5 s the first rounds ran 20-40% slower than the later ones
    warmupSec: num('warmup', 20, 3),
    connections: num('connections', 16, 16),
    concurrency: num('concurrency', 2_000, 500),
    concurrencyRequestsPerConnection: 3,
    concurrencyRounds: quick ? 1 : 2,
    modelLatencyMs: num('model-latency-ms', 5_000, 5_000),
    promptRequests: num('prompt-requests', 10_000, 2_000),
    refreshProbeRequests: quick ? 800 : 3_000,
    refreshProbeTtlSeconds: 2,
    soakRequests: num('soak-requests', 100_000, 5_000),
    soakMaxSec: num('soak-max-seconds', 360, 120),
  };
}

// ---------------------------------------------------------------------------
// Shared infrastructure: logs, load generator, stand-ins, servers
// ---------------------------------------------------------------------------

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
let logDir = '';
const notes: string[] = [];

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

const loadgen = new LoadGenerator(ROOT, baseEnv);
let langfuse: LangfusePromptStandIn;
let sinkUrl = '';
const openaiStandIns = new Map<number, { proc: ManagedProcess; url: string }>();

async function startStandInProcess(name: string, script: string, args: string[]): Promise<{ proc: ManagedProcess; url: string }> {
  const port = await freePort();
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', script, '--port', String(port), ...args],
    cwd: ROOT,
    env: baseEnv(),
    logFile: path.join(logDir, `${name}.log`),
  });
  const match = await proc.waitForStdout(/listening (http:\/\/\S+)/, 30_000);
  return { proc, url: match[1] as string };
}

async function openaiStandIn(latencyMs: number): Promise<{ proc: ManagedProcess; url: string }> {
  const existing = openaiStandIns.get(latencyMs);
  if (existing) return existing;
  const started = await startStandInProcess(`openai-stand-in-${latencyMs}ms`, 'test/support/openai-stand-in.ts', [
    '--latency-ms',
    String(latencyMs),
    '--no-record',
    '--api-key',
    OPENAI_KEY,
  ]);
  openaiStandIns.set(latencyMs, started);
  return started;
}

async function sinkStats(): Promise<SinkStats> {
  const res = await fetch(`${sinkUrl}/stats`);
  return (await res.json()) as SinkStats;
}

/** Waits until the sink has `expected` spans more than `before`, or its count stops moving. */
async function waitForSpans(before: number, expected: number, maxMs = 20_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let lastChange = Date.now();
  await sleep(300);
  for (;;) {
    const received = (await sinkStats()).spans - before;
    if (received >= expected) return received;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    }
    // the batch processor exports at least every OTEL_BSP_SCHEDULE_DELAY (1 s default)
    if (Date.now() - lastChange > 2_500 || Date.now() > deadline) return received;
    await sleep(200);
  }
}

type Kind = 'service' | 'bare-fastify' | 'bare-langgraph';

interface Server {
  name: string;
  kind: Kind;
  traced: boolean;
  proc: ManagedProcess;
  base: string;
  url: string;
  openai: { proc: ManagedProcess; url: string };
}

/** Env for the service: everything explicit, so a developer's `.env` cannot change what is measured. */
function serviceEnv(openaiUrl: string, traced: boolean, extra: Record<string, string>): Record<string, string> {
  return {
    ...baseEnv(),
    HOST: '127.0.0.1',
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: `${openaiUrl}/v1`,
    OPENAI_API: 'responses',
    OPENAI_FALLBACK_MODEL: '',
    LANGFUSE_PUBLIC_KEY: LF_PUBLIC,
    LANGFUSE_SECRET_KEY: LF_SECRET,
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    PROMPT_SOURCE: 'langfuse',
    PROMPT_EXPERIMENT: '',
    PROMPT_OVERRIDABLE_LABELS: '',
    SERVICE_API_KEYS: '',
    DEPLOYMENT_ENVIRONMENT: 'development',
    CAPTURE_MODE: 'metadata_only',
    OTEL_SDK_DISABLED: traced ? 'false' : 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl || 'http://127.0.0.1:9',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    OTEL_SERVICE_NAME: 'order-support-agent',
    LOG_LEVEL: 'warn',
    // Limits ON, as users run the service: the per-user default, with far more users than the rate needs.
    RATE_LIMIT_PER_USER_PER_MINUTE: '60',
    MAX_CONCURRENT_REQUESTS: '10000',
    GRAPH_LAYOUT: 'grouped',
    OPENAI_HTTP_CLIENT: 'node-http',
    ...extra,
  };
}

async function startServer(
  name: string,
  kind: Kind,
  modelLatencyMs: number,
  traced: boolean,
  extraEnv: Record<string, string> = {},
  extraNodeFlags: string[] = [],
): Promise<Server> {
  const openai = await openaiStandIn(modelLatencyMs);
  const port = await freePort();
  const script = kind === 'service' ? 'src/server.ts' : `bench/${kind}-server.ts`;
  const env =
    kind === 'service'
      ? serviceEnv(openai.url, traced, extraEnv)
      : { ...baseEnv(), HOST: '127.0.0.1', OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: `${openai.url}/v1`, OPENAI_API: 'responses', ...extraEnv };
  env.PORT = String(port);
  const proc = new ManagedProcess({
    name,
    command: cfg.nodeBin,
    args: [...cfg.serverFlags, ...extraNodeFlags, '--import', 'tsx', script],
    cwd: ROOT,
    env,
    logFile: path.join(logDir, `${name}.log`),
  });
  const base = `http://127.0.0.1:${port}`;
  await proc.waitForHttp(`${base}/healthz`, 60_000);
  if (kind === 'service') await proc.waitForHttp(`${base}/readyz`, 30_000);
  const server: Server = { name, kind, traced, proc, base, url: `${base}/order-status`, openai };
  if (modelLatencyMs < 1_000) await sanityCheck(server);
  return server;
}

/** 20,000 end users of equal id length: at ~1,000 req/s each sees ~3 requests a minute, under the per-user limit. */
const BODIES = Array.from({ length: 20_000 }, (_, i) =>
  JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: `usr_bench_${String(i).padStart(5, '0')}` }),
);

async function post(server: Server, body = BODIES[0] as string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** One request must succeed with outcome `answer`, or the numbers would measure an error path. */
async function sanityCheck(server: Server): Promise<void> {
  const { status, json } = await post(server);
  if (status !== 200 || json.outcome !== 'answer') {
    throw new Error(`${server.name}: sanity request answered ${status} ${JSON.stringify(json).slice(0, 300)}; see ${server.proc.logFile}`);
  }
}

/** Spans one request produces, measured: N sequential requests, then wait for the export. */
async function calibrateSpansPerRequest(server: Server, n = 20): Promise<number> {
  // let the spans of earlier requests (the sanity check) arrive first
  const start = (await sinkStats()).spans;
  const before = start + (await waitForSpans(start, Number.POSITIVE_INFINITY, 8_000));
  for (let i = 0; i < n; i += 1) await post(server, BODIES[i % BODIES.length]);
  const received = await waitForSpans(before, Number.POSITIVE_INFINITY, 8_000);
  return received / n;
}

interface RunMeasurement extends LoadResult {
  server: string;
  round: number;
  serverCpuMs: number;
  cpuMsPerRequest: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  standInCpuPct: number;
  rssAfterMiB: number;
  spansExpected?: number;
  spansReceived?: number;
  spansDropped?: number;
}

/**
 * One measured load run. Server CPU is read before the run and after the spans of the run have
 * been exported (for traced servers), so export cost is attributed to the requests that caused it.
 */
async function measure(server: Server, spec: LoadSpec, round: number, spansPerRequest?: number): Promise<RunMeasurement> {
  const cpu0 = cpuMs(server.proc.pid);
  const lg0 = cpuMs(loadgen.pid);
  const st0 = cpuMs(server.openai.proc.pid);
  const sink0 = server.traced ? (await sinkStats()).spans : 0;
  const result = await loadgen.run(spec);
  const lg1 = cpuMs(loadgen.pid);
  const st1 = cpuMs(server.openai.proc.pid);
  const cpuAtEnd = cpuMs(server.proc.pid);
  let spans: Pick<RunMeasurement, 'spansExpected' | 'spansReceived' | 'spansDropped'> = {};
  if (server.traced && spansPerRequest !== undefined) {
    const expected = Math.round(result.completed * spansPerRequest);
    const received = await waitForSpans(sink0, expected);
    spans = { spansExpected: expected, spansReceived: received, spansDropped: Math.max(0, expected - received) };
  } else {
    await sleep(700);
  }
  const cpu1 = cpuMs(server.proc.pid);
  const elapsedMs = result.elapsedSec * 1000;
  return {
    ...result,
    server: server.name,
    round,
    serverCpuMs: cpu1 - cpu0,
    cpuMsPerRequest: (cpu1 - cpu0) / Math.max(1, result.completed),
    serverCpuPct: ((cpuAtEnd - cpu0) / elapsedMs) * 100,
    loadgenCpuPct: ((lg1 - lg0) / elapsedMs) * 100,
    standInCpuPct: ((st1 - st0) / elapsedMs) * 100,
    rssAfterMiB: statusMiB(server.proc.pid, 'VmRSS'),
    ...spans,
  };
}

/** Warnings and errors a server logged while measured (start-up announcements left out), for the notes. */
function serverLogDigest(server: Server): void {
  let text: string;
  try {
    text = readFileSync(server.proc.logFile, 'utf8');
  } catch {
    return;
  }
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) < 40 || !entry.msg || /SERVICE_API_KEYS|OTEL_SDK_DISABLED|not set/.test(entry.msg)) continue;
      const key = entry.msg.replace(/\d+/g, 'N');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      /* not JSON */
    }
  }
  if (counts.size > 0) {
    notes.push(`${server.name} logged: ${[...counts.entries()].map(([msg, n]) => `${n}x "${msg}"`).join(', ')} (${path.relative(ROOT, server.proc.logFile)})`);
  }
}

async function stopServers(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((s) => s.proc.stop()));
  for (const s of servers) serverLogDigest(s);
}

function errorsOf(r: LoadResult): number {
  return r.errors + r.non2xx;
}

interface VariantSummary {
  name: string;
  runs: number;
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  errors: number;
  requests: number;
  peakRssMiB: number;
  spansExpected?: number;
  spansReceived?: number;
  spansDropped?: number;
}

function summarise(name: string, runs: RunMeasurement[], peakRssMiB: number): VariantSummary {
  const traced = runs.some((r) => r.spansExpected !== undefined);
  const sum = (f: (r: RunMeasurement) => number) => runs.reduce((s, r) => s + f(r), 0);
  return {
    name,
    runs: runs.length,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.latencyMs.p50)),
    p99: median(runs.map((r) => r.latencyMs.p99)),
    cpuMsPerRequest: median(runs.map((r) => r.cpuMsPerRequest)),
    serverCpuPct: median(runs.map((r) => r.serverCpuPct)),
    loadgenCpuPct: median(runs.map((r) => r.loadgenCpuPct)),
    errors: sum(errorsOf),
    requests: sum((r) => r.completed),
    peakRssMiB,
    ...(traced
      ? { spansExpected: sum((r) => r.spansExpected ?? 0), spansReceived: sum((r) => r.spansReceived ?? 0), spansDropped: sum((r) => r.spansDropped ?? 0) }
      : {}),
  };
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

interface Check {
  name: string;
  pass: boolean;
  detail: string;
}
const checks: Check[] = [];

function check(name: string, pass: boolean, detail: string): void {
  checks.push({ name, pass, detail });
}

// ---------------------------------------------------------------------------
// Sections 1 + 2: overhead (0 ms model) and tracing cost, interleaved rounds
// ---------------------------------------------------------------------------

async function sectionZeroMs(results: Record<string, unknown>, report: string[]): Promise<void> {
  const wantOverhead = cfg.only.has('overhead');
  const wantTracing = cfg.only.has('tracing');
  const plan: { name: string; kind: Kind; traced: boolean; env?: Record<string, string>; flags?: string[] }[] = [];
  if (wantOverhead) plan.push({ name: 'bare-fastify', kind: 'bare-fastify', traced: false }, { name: 'bare-langgraph', kind: 'bare-langgraph', traced: false });
  // the straightforward build: one node per step, global fetch, a LangSmith RunTree per step
  if (cfg.compare.includes('stock')) plan.push({ name: 'bare-langgraph-stock', kind: 'bare-langgraph', traced: false, env: { BARE_STOCK: '1' } });
  // one LangGraph node per step (5 per run instead of 2), for the baseline and the service alike
  if (cfg.compare.includes('per-step-graph')) {
    plan.push({ name: 'bare-langgraph-per-step', kind: 'bare-langgraph', traced: false, env: { GRAPH_LAYOUT: 'per-step' } });
    plan.push({ name: 'service-tracing-on-per-step', kind: 'service', traced: true, env: { GRAPH_LAYOUT: 'per-step' } });
  }
  if (wantTracing) plan.push({ name: 'service-tracing-off', kind: 'service', traced: false });
  // SDK on, every span non-recording: the cost of the instrumentation plumbing without span data or export
  if (cfg.compare.includes('sampler-off')) plan.push({ name: 'service-sampler-off', kind: 'service', traced: false, env: { OTEL_SDK_DISABLED: 'false', OTEL_TRACES_SAMPLER: 'always_off' } });
  // a larger V8 young generation (fewer scavenges, less premature promotion)
  if (cfg.compare.includes('semi-space-32')) plan.push({ name: 'service-tracing-on-semi32', kind: 'service', traced: true, flags: ['--max-semi-space-size=32'] });
  plan.push({ name: 'service-tracing-on', kind: 'service', traced: true });

  log(`overhead/tracing: starting ${plan.map((p) => p.name).join(', ')}`);
  const servers = await Promise.all(plan.map((p) => startServer(p.name, p.kind, 0, p.traced, p.env ?? {}, p.flags ?? [])));
  const traced = servers.find((s) => s.name === 'service-tracing-on') as Server;
  const spansPerRequest = await calibrateSpansPerRequest(traced);
  log(`overhead/tracing: ${fmt(spansPerRequest, 2)} spans per request (calibrated on 20 sequential requests)`);

  // Measured runs send a fixed NUMBER of requests sized from the previous run's rate (~duration
  // seconds): every request sent completes, so CPU per request and expected spans are exact (a
  // duration-bounded run would abandon the requests in flight when it stops).
  const rpsEstimate = new Map<string, number>();
  const spec = (server: Server): LoadSpec => ({
    url: server.url,
    connections: cfg.connections,
    amount: Math.max(cfg.connections * 4, Math.round((rpsEstimate.get(server.name) ?? 100) * cfg.durationSec)),
    timeoutSec: 10,
    bodies: BODIES,
  });
  for (const server of servers) {
    log(`overhead/tracing: warm-up ${server.name} (${cfg.warmupSec} s)`);
    const warm = await loadgen.run({ url: server.url, connections: cfg.connections, durationSec: cfg.warmupSec, timeoutSec: 10, bodies: BODIES });
    rpsEstimate.set(server.name, warm.rps);
    await sleep(server.traced ? 1_500 : 300);
  }

  const runs = new Map<string, RunMeasurement[]>(servers.map((s) => [s.name, []]));
  for (let round = 0; round < cfg.rounds; round += 1) {
    // rotate the order every round so drift (thermal, other tenants) spreads over all variants
    const order = servers.map((_, i) => servers[(i + round) % servers.length] as Server);
    for (const server of order) {
      const m = await measure(server, spec(server), round, server.traced ? spansPerRequest : undefined);
      runs.get(server.name)?.push(m);
      rpsEstimate.set(server.name, median((runs.get(server.name) ?? []).map((r) => r.rps)));
      log(
        `  round ${round + 1}/${cfg.rounds} ${server.name.padEnd(20)} ${fmt(m.rps, 0).padStart(6)} rps  p50 ${fmt(m.latencyMs.p50, 2)} ms  p99 ${fmt(m.latencyMs.p99, 2)} ms  ` +
          `${fmt(m.cpuMsPerRequest, 2)} ms CPU/req  errors ${errorsOf(m)}${m.spansDropped !== undefined ? `  spans dropped ${m.spansDropped}` : ''}`,
      );
    }
  }
  const summaries = new Map<string, VariantSummary>();
  for (const server of servers) summaries.set(server.name, summarise(server.name, runs.get(server.name) ?? [], statusMiB(server.proc.pid, 'VmHWM')));
  await stopServers(servers);

  const rows = [...summaries.values()].map((s) => [
    s.name,
    fmt(s.rps, 0),
    fmt(s.p50, 2),
    fmt(s.p99, 2),
    fmt(s.cpuMsPerRequest, 3),
    fmt(s.serverCpuPct, 0),
    fmt(s.loadgenCpuPct, 0),
    fmt(s.peakRssMiB, 0),
    fmtInt(s.errors),
    s.spansDropped === undefined ? '-' : `${fmtInt(s.spansDropped)}/${fmtInt(s.spansExpected)}`,
  ]);
  report.push(
    `\n== 1+2. Overhead and tracing cost: 0 ms model, ${cfg.connections} connections, ${cfg.rounds} interleaved rounds x ~${cfg.durationSec} s per variant (medians) ==`,
    table(['variant', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'srv CPU%', 'loadgen CPU%', 'peak RSS MiB', 'errors', 'spans dropped'], rows),
  );

  const svc = summaries.get('service-tracing-on') as VariantSummary;
  const section: Record<string, unknown> = { spansPerRequest, variants: Object.fromEntries(summaries), runs: Object.fromEntries(runs) };
  if (wantOverhead) {
    const bf = summaries.get('bare-fastify') as VariantSummary;
    const bl = summaries.get('bare-langgraph') as VariantSummary;
    const ratios = {
      vsBareFastify: { rps: ratio(svc.rps, bf.rps), p50: ratio(svc.p50, bf.p50), p99: ratio(svc.p99, bf.p99), cpuPerRequest: ratio(svc.cpuMsPerRequest, bf.cpuMsPerRequest) },
      vsBareLangGraph: { rps: ratio(svc.rps, bl.rps), p50: ratio(svc.p50, bl.p50), p99: ratio(svc.p99, bl.p99), cpuPerRequest: ratio(svc.cpuMsPerRequest, bl.cpuMsPerRequest) },
    };
    section.ratios = ratios;
    report.push(
      '',
      table(
        ['service (tracing on) as a ratio to', 'req/s', 'p50', 'p99', 'CPU/req'],
        [
          ['(a) bare Fastify route', fmtX(ratios.vsBareFastify.rps, 3), fmtX(ratios.vsBareFastify.p50), fmtX(ratios.vsBareFastify.p99), fmtX(ratios.vsBareFastify.cpuPerRequest)],
          ['(b) bare LangGraph route', fmtX(ratios.vsBareLangGraph.rps, 3), fmtX(ratios.vsBareLangGraph.p50), fmtX(ratios.vsBareLangGraph.p99), fmtX(ratios.vsBareLangGraph.cpuPerRequest)],
        ],
      ),
    );
    check('service (tracing on) throughput >= 0.75x bare LangGraph', ratios.vsBareLangGraph.rps >= 0.75, `${fmtX(ratios.vsBareLangGraph.rps)} (${fmt(svc.rps, 0)} vs ${fmt(bl.rps, 0)} req/s)`);
  }
  if (wantTracing) {
    const off = summaries.get('service-tracing-off') as VariantSummary;
    const tracing = {
      rpsRatio: ratio(svc.rps, off.rps),
      p50Ratio: ratio(svc.p50, off.p50),
      p99Ratio: ratio(svc.p99, off.p99),
      cpuMsPerRequestAdded: svc.cpuMsPerRequest - off.cpuMsPerRequest,
      spansPerRequest,
      spansExpected: svc.spansExpected,
      spansReceived: svc.spansReceived,
      spansDropped: svc.spansDropped,
    };
    section.tracing = tracing;
    report.push(
      '',
      `tracing on / off: req/s ${fmtX(tracing.rpsRatio)}, p50 ${fmtX(tracing.p50Ratio)}, p99 ${fmtX(tracing.p99Ratio)}, CPU ${tracing.cpuMsPerRequestAdded >= 0 ? '+' : ''}${fmt(tracing.cpuMsPerRequestAdded, 3)} ms/req; ` +
        `spans: ${fmt(spansPerRequest, 2)}/request, received ${fmtInt(svc.spansReceived)} of ${fmtInt(svc.spansExpected)} expected, dropped ${fmtInt(svc.spansDropped)} ` +
        `(${fmt(((svc.spansDropped ?? 0) / Math.max(1, svc.spansExpected ?? 1)) * 100, 2)}%)`,
    );
    check('tracing on >= 0.9x tracing off (throughput)', tracing.rpsRatio >= 0.9, `${fmtX(tracing.rpsRatio)} (${fmt(svc.rps, 0)} vs ${fmt(off.rps, 0)} req/s)`);
  }
  report.push(
    `CPU per request, service with tracing: ${fmt(svc.cpuMsPerRequest, 3)} ms (server process utime+stime / requests; goal <= 1.8 ms on Node 24, i.e. >= 550 req/s per process)`,
  );
  check(
    `absolute goal: CPU per request with tracing <= 1.8 ms (goal set for Node 24; this run: servers on Node ${serverNodeVersion})`,
    svc.cpuMsPerRequest <= 1.8,
    `${fmt(svc.cpuMsPerRequest, 3)} ms/req => at most ~${fmt(1000 / svc.cpuMsPerRequest, 0)} req/s per fully busy process`,
  );
  results.overheadAndTracing = section;
}

// ---------------------------------------------------------------------------
// Section 3: concurrency with a slow model
// ---------------------------------------------------------------------------

async function sectionConcurrency(results: Record<string, unknown>, report: string[]): Promise<void> {
  const conns = cfg.concurrency;
  const fdLimit = openFileLimit();
  // the server holds one inbound and one outbound socket per in-flight request
  if (fdLimit < conns * 2 + 512) {
    notes.push(`open-file limit ${fdLimit} is below ${conns * 2 + 512}: raise it (ulimit -n) before running; results of the concurrency section are suspect`);
  }
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  log(`concurrency: model ${cfg.modelLatencyMs} ms, ${conns} connections, open-file limit ${fdLimit}, somaxconn ${somaxconn}`);
  const servers = [
    await startServer('service-slow-model', 'service', cfg.modelLatencyMs, true),
    await startServer('bare-langgraph-slow-model', 'bare-langgraph', cfg.modelLatencyMs, false),
  ];
  const spansPerRequest = (results.overheadAndTracing as { spansPerRequest?: number } | undefined)?.spansPerRequest ?? 12;
  const ideal = conns / (cfg.modelLatencyMs / 1000);
  const k = cfg.concurrencyRequestsPerConnection;
  const runs = new Map<string, RunMeasurement[]>(servers.map((s) => [s.name, []]));
  const samplers = new Map<string, RssSampler>();
  for (const server of servers) {
    log(`concurrency: warm-up ${server.name} (${conns} requests, one per connection)`);
    const warm = await loadgen.run({ url: server.url, connections: conns, amount: conns, timeoutSec: 60, bodies: BODIES });
    if (errorsOf(warm) > 0) log(`  warm-up errors: ${JSON.stringify({ errors: warm.errors, timeouts: warm.timeouts, codes: warm.statusCodes, samples: warm.errorSamples })}`);
    await sleep(2_000);
  }
  for (let round = 0; round < cfg.concurrencyRounds; round += 1) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const sampler = samplers.get(server.name) ?? new RssSampler(server.proc.pid, 200);
      samplers.set(server.name, sampler);
      sampler.start();
      const m = await measure(
        server,
        { url: server.url, connections: conns, amount: conns * k, timeoutSec: 60, bodies: BODIES },
        round,
        server.traced ? spansPerRequest : undefined,
      );
      sampler.stop();
      runs.get(server.name)?.push(m);
      log(
        `  round ${round + 1}/${cfg.concurrencyRounds} ${server.name.padEnd(26)} ${fmt(m.rps, 1)} req/s, steady ${fmt(m.steadyRps, 1)} (ideal ${fmt(ideal, 0)})  p50 ${fmt(m.latencyMs.p50, 0)} ms  p99 ${fmt(m.latencyMs.p99, 0)} ms  ` +
          `errors ${errorsOf(m)} (timeouts ${m.timeouts}, non-2xx ${m.non2xx})  RSS max ${fmt(sampler.maxMiB, 0)} MiB`,
      );
      await sleep(1_000);
    }
  }
  const summaries = servers.map((s) => ({
    ...summarise(s.name, runs.get(s.name) ?? [], statusMiB(s.proc.pid, 'VmHWM')),
    steadyRps: median((runs.get(s.name) ?? []).map((r) => r.steadyRps)),
    warmP50: median((runs.get(s.name) ?? []).map((r) => r.warmLatencyMs.p50)),
    warmP99: median((runs.get(s.name) ?? []).map((r) => r.warmLatencyMs.p99)),
    sampledMaxRssMiB: samplers.get(s.name)?.maxMiB ?? Number.NaN,
    rssSeries: samplers.get(s.name)?.series ?? [],
    timeouts: (runs.get(s.name) ?? []).reduce((n, r) => n + r.timeouts, 0),
    statusCodes: (runs.get(s.name) ?? []).map((r) => r.statusCodes),
    errorSamples: (runs.get(s.name) ?? []).flatMap((r) => r.errorSamples).slice(0, 5),
  }));
  await stopServers(servers);
  const [svc, bare] = summaries as [(typeof summaries)[number], (typeof summaries)[number]];
  report.push(
    `\n== 3. Concurrency: ${cfg.modelLatencyMs} ms model, ${conns} connections, ${k} requests per connection, ${cfg.concurrencyRounds} round(s) (medians; ideal ${fmt(ideal, 0)} req/s) ==`,
    table(
      ['variant', 'req/s all', 'req/s steady', 'x ideal', 'p50 ms', 'p99 ms', 'warm p50', 'warm p99', 'errors', 'CPU ms/req', 'srv CPU%', 'peak RSS MiB (VmHWM)', 'spans dropped'],
      summaries.map((s) => [
        s.name,
        fmt(s.rps, 1),
        fmt(s.steadyRps, 1),
        fmtX(s.steadyRps / ideal),
        fmt(s.p50, 0),
        fmt(s.p99, 0),
        fmt(s.warmP50, 0),
        fmt(s.warmP99, 0),
        fmtInt(s.errors),
        fmt(s.cpuMsPerRequest, 3),
        fmt(s.serverCpuPct, 0),
        fmt(s.peakRssMiB, 0),
        s.spansDropped === undefined ? '-' : `${fmtInt(s.spansDropped)}/${fmtInt(s.spansExpected)}`,
      ]),
    ),
    `service / bare LangGraph: req/s steady ${fmtX(ratio(svc.steadyRps, bare.steadyRps))} (all ${fmtX(ratio(svc.rps, bare.rps))}), peak RSS ${fmtX(ratio(svc.peakRssMiB, bare.peakRssMiB))}`,
    `"all" = responses / wall time of the run, including the ${conns}-connection ramp (listen backlog 4096, capped by net.core.somaxconn) and the drain; ` +
      `"steady" = completion rate between the ${conns}th and the (N-${conns})th response; "warm" latency excludes each connection's first request.`,
  );
  check('concurrency: service 0 errors', svc.errors === 0, `${svc.errors} errors/non-2xx over ${fmtInt(svc.requests)} responses (timeouts ${svc.timeouts})`);
  check(
    'concurrency: service throughput >= 0.9x bare LangGraph (steady state)',
    ratio(svc.steadyRps, bare.steadyRps) >= 0.9,
    `${fmtX(ratio(svc.steadyRps, bare.steadyRps))} (${fmt(svc.steadyRps, 1)} vs ${fmt(bare.steadyRps, 1)} req/s; ideal ${fmt(ideal, 0)}; including ramp and drain ${fmtX(ratio(svc.rps, bare.rps))})`,
  );
  check('concurrency: service peak RSS <= 1.25x bare LangGraph', ratio(svc.peakRssMiB, bare.peakRssMiB) <= 1.25, `${fmtX(ratio(svc.peakRssMiB, bare.peakRssMiB))} (${fmt(svc.peakRssMiB, 0)} vs ${fmt(bare.peakRssMiB, 0)} MiB)`);
  results.concurrency = { connections: conns, modelLatencyMs: cfg.modelLatencyMs, idealRps: ideal, requestsPerConnection: k, fdLimit, somaxconn, variants: summaries, runs: Object.fromEntries(runs) };
}

// ---------------------------------------------------------------------------
// Section 4: prompt hot path
// ---------------------------------------------------------------------------

async function sectionPrompts(results: Record<string, unknown>, report: string[]): Promise<void> {
  // (a) production TTL: how many Langfuse requests do 10,000 service requests cause after warm-up?
  log(`prompts: service with PROMPT_CACHE_TTL_SECONDS=60 (default), ${cfg.promptRequests} requests`);
  const a = await startServer('service-prompts-ttl60', 'service', 0, false, { PROMPT_CACHE_TTL_SECONDS: '60' });
  const startedAt = Date.now();
  await loadgen.run({ url: a.url, connections: cfg.connections, amount: 1_000, timeoutSec: 10, bodies: BODIES });
  langfuse.setDelayMs(LANGFUSE_PROBE_DELAY_MS);
  const f0 = langfuse.promptFetches();
  const runA = await loadgen.run({ url: a.url, connections: cfg.connections, amount: cfg.promptRequests, timeoutSec: 10, bodies: BODIES, slowThresholdMs: LANGFUSE_PROBE_DELAY_MS });
  const fetchesA = langfuse.promptFetches() - f0;
  const windowSec = (Date.now() - startedAt) / 1000;
  langfuse.setDelayMs(0);
  await stopServers([a]);
  // background refresh starts at 80% of the TTL: this many are possible in the window since start-up
  const backgroundBoundA = Math.ceil(windowSec / (0.8 * 60));

  // (b) refresh under load: a 2 s TTL forces background refreshes during the run, Langfuse answers in 1 s;
  // any request that waited on a fetch would take >= 1 s.
  log(`prompts: service with PROMPT_CACHE_TTL_SECONDS=${cfg.refreshProbeTtlSeconds}, Langfuse delay ${LANGFUSE_PROBE_DELAY_MS} ms, ${cfg.refreshProbeRequests} requests`);
  const b = await startServer('service-prompts-ttl2', 'service', 0, false, { PROMPT_CACHE_TTL_SECONDS: String(cfg.refreshProbeTtlSeconds) });
  await loadgen.run({ url: b.url, connections: cfg.connections, amount: 500, timeoutSec: 10, bodies: BODIES });
  langfuse.setDelayMs(LANGFUSE_PROBE_DELAY_MS);
  const g0 = langfuse.promptFetches();
  const runB = await loadgen.run({ url: b.url, connections: cfg.connections, amount: cfg.refreshProbeRequests, timeoutSec: 10, bodies: BODIES, slowThresholdMs: LANGFUSE_PROBE_DELAY_MS });
  const fetchesB = langfuse.promptFetches() - g0;
  langfuse.setDelayMs(0);
  await stopServers([b]);

  // (c) micro-benchmark of a cached resolve, in its own process on the node under test
  log('prompts: PromptResolver.resolve micro-benchmark');
  const iterations = cfg.quick ? 100_000 : 500_000;
  // async: the Langfuse stand-in it warms from lives in THIS process's event loop
  const { stdout: microOut } = await promisify(execFile)(
    cfg.nodeBin,
    [...cfg.serverFlags, '--import', 'tsx', 'bench/prompt-resolve-micro.ts', '--langfuse-url', langfuse.baseUrl, '--public-key', LF_PUBLIC, '--secret-key', LF_SECRET, '--iterations', String(iterations)],
    { cwd: ROOT, env: baseEnv(), encoding: 'utf8', timeout: 180_000 },
  );
  const micro = JSON.parse(microOut.trim().split('\n').at(-1) as string) as { nsPerOp: number; awaitFloorNsPerOp: number; fetchesDuringLoop: number; nsPerOpRuns: number[] };

  const per10k = (fetches: number, requests: number) => (fetches / Math.max(1, requests)) * 10_000;
  report.push(
    `\n== 4. Prompt hot path (Langfuse stand-in answers in ${LANGFUSE_PROBE_DELAY_MS} ms during the measured runs) ==`,
    table(
      ['run', 'requests', 'req/s', 'Langfuse fetches', 'per 10k req', 'responses >= 1 s', 'max ms'],
      [
        [`TTL 60 s (default), after warm-up`, fmtInt(runA.completed), fmt(runA.rps, 0), fmtInt(fetchesA), fmt(per10k(fetchesA, runA.completed), 2), fmtInt(runA.slowResponses), fmt(runA.latencyMs.max, 1)],
        [`TTL ${cfg.refreshProbeTtlSeconds} s (forced background refreshes)`, fmtInt(runB.completed), fmt(runB.rps, 0), fmtInt(fetchesB), fmt(per10k(fetchesB, runB.completed), 2), fmtInt(runB.slowResponses), fmt(runB.latencyMs.max, 1)],
      ],
    ),
    `PromptResolver.resolve (cached): ${fmt(micro.nsPerOp, 0)} ns/op awaited (await floor ${fmt(micro.awaitFloorNsPerOp, 0)} ns/op; runs ${micro.nsPerOpRuns.join(', ')}); fetches during the loop: ${micro.fetchesDuringLoop}`,
  );
  const blocking = (runA.slowResponses ?? 0) + (runB.slowResponses ?? 0);
  check(
    '0 blocking prompt fetches after warm-up',
    blocking === 0 && fetchesA <= backgroundBoundA && micro.fetchesDuringLoop === 0,
    `${blocking} responses took >= ${LANGFUSE_PROBE_DELAY_MS} ms while every fetch took ${LANGFUSE_PROBE_DELAY_MS} ms; TTL 60: ${fetchesA} fetches in ${fmtInt(runA.completed)} requests (background bound ${backgroundBoundA}); ` +
      `TTL ${cfg.refreshProbeTtlSeconds}: ${fetchesB} background fetches`,
  );
  results.prompts = {
    probeDelayMs: LANGFUSE_PROBE_DELAY_MS,
    defaultTtl: { requests: runA.completed, fetches: fetchesA, per10k: per10k(fetchesA, runA.completed), backgroundBound: backgroundBoundA, slowResponses: runA.slowResponses, rps: runA.rps, latencyMs: runA.latencyMs, errors: errorsOf(runA) },
    shortTtl: { ttlSeconds: cfg.refreshProbeTtlSeconds, requests: runB.completed, fetches: fetchesB, per10k: per10k(fetchesB, runB.completed), slowResponses: runB.slowResponses, rps: runB.rps, latencyMs: runB.latencyMs, errors: errorsOf(runB) },
    micro,
  };
}

// ---------------------------------------------------------------------------
// Section 5: soak
// ---------------------------------------------------------------------------

async function sectionSoak(results: Record<string, unknown>, report: string[]): Promise<void> {
  const total = cfg.soakRequests;
  const chunks = 10;
  const chunk = Math.max(cfg.connections, Math.round(total / chunks));
  log(`soak: ${fmtInt(total)} requests in ${chunks} chunks (cap ${cfg.soakMaxSec} s), service with tracing`);
  const server = await startServer('service-soak', 'service', 0, true);
  const spansPerRequest = (results.overheadAndTracing as { spansPerRequest?: number } | undefined)?.spansPerRequest ?? (await calibrateSpansPerRequest(server));
  await loadgen.run({ url: server.url, connections: cfg.connections, amount: cfg.quick ? 500 : 2_000, timeoutSec: 10, bodies: BODIES });
  await sleep(1_500);
  const sampler = new RssSampler(server.proc.pid, 500).start();
  const points: { requests: number; rssMiB: number; elapsedSec: number }[] = [{ requests: 0, rssMiB: statusMiB(server.proc.pid, 'VmRSS'), elapsedSec: 0 }];
  const cpu0 = cpuMs(server.proc.pid);
  const sink0 = (await sinkStats()).spans;
  const t0 = Date.now();
  let done = 0;
  let errors = 0;
  const latP99: number[] = [];
  let truncated = false;
  while (done < total) {
    const elapsed = (Date.now() - t0) / 1000;
    const perRequest = done > 0 ? elapsed / done : 0;
    if (done > 0 && elapsed + perRequest * chunk > cfg.soakMaxSec) {
      truncated = true;
      break;
    }
    const r = await loadgen.run({ url: server.url, connections: cfg.connections, amount: Math.min(chunk, total - done), timeoutSec: 10, bodies: BODIES });
    done += r.completed;
    errors += errorsOf(r);
    latP99.push(r.latencyMs.p99);
    points.push({ requests: done, rssMiB: statusMiB(server.proc.pid, 'VmRSS'), elapsedSec: (Date.now() - t0) / 1000 });
    log(`  soak ${fmtInt(done)}/${fmtInt(total)}  RSS ${fmt(points.at(-1)?.rssMiB, 0)} MiB  ${fmt(r.rps, 0)} req/s  p99 ${fmt(r.latencyMs.p99, 1)} ms`);
  }
  const elapsedSec = (Date.now() - t0) / 1000;
  const received = await waitForSpans(sink0, Math.round(done * spansPerRequest));
  const cpuPerRequest = (cpuMs(server.proc.pid) - cpu0) / Math.max(1, done);
  sampler.stop();
  const hwm = statusMiB(server.proc.pid, 'VmHWM');
  await stopServers([server]);
  const start = points[0] as (typeof points)[number];
  const end = points.at(-1) as (typeof points)[number];
  const middle = points.reduce((best, p) => (Math.abs(p.requests - done / 2) < Math.abs(best.requests - done / 2) ? p : best), start);
  const expectedSpans = Math.round(done * spansPerRequest);
  report.push(
    `\n== 5. Soak: ${fmtInt(done)} requests${truncated ? ` (STOPPED by the ${cfg.soakMaxSec} s cap; asked for ${fmtInt(total)})` : ''} at ${cfg.connections} connections, service with tracing, 0 ms model ==`,
    table(
      ['point', 'requests', 'RSS MiB'],
      [
        ['start (after warm-up)', fmtInt(start.requests), fmt(start.rssMiB, 1)],
        ['middle', fmtInt(middle.requests), fmt(middle.rssMiB, 1)],
        ['end', fmtInt(end.requests), fmt(end.rssMiB, 1)],
      ],
    ),
    `RSS series (every ${fmtInt(chunk)} requests): ${points.map((p) => fmt(p.rssMiB, 0)).join(' ')} MiB; peak (VmHWM) ${fmt(hwm, 0)} MiB; ` +
      `${fmt(done / elapsedSec, 0)} req/s; ${fmt(cpuPerRequest, 3)} ms CPU/req; errors ${errors}; spans ${fmtInt(received)}/${fmtInt(expectedSpans)} (dropped ${fmtInt(Math.max(0, expectedSpans - received))}); ` +
      `chunk p99 ${fmt(Math.min(...latP99), 1)}..${fmt(Math.max(...latP99), 1)} ms`,
  );
  check('soak: no RSS growth (end <= 1.10x middle)', end.rssMiB <= middle.rssMiB * 1.1, `start ${fmt(start.rssMiB, 0)} / middle ${fmt(middle.rssMiB, 0)} / end ${fmt(end.rssMiB, 0)} MiB${truncated ? ' (truncated soak)' : ''}`);
  results.soak = { requested: total, requests: done, truncated, elapsedSec, errors, points, rssSeries: sampler.series, peakRssMiB: hwm, cpuMsPerRequest: cpuPerRequest, spansExpected: expectedSpans, spansReceived: received };
}

// ---------------------------------------------------------------------------
// Profile (only with --only profile): --cpu-prof on the service under the 0 ms load
// ---------------------------------------------------------------------------

async function sectionProfile(results: Record<string, unknown>, report: string[]): Promise<void> {
  const dir = path.join(logDir, 'cpuprofile');
  mkdirSync(dir, { recursive: true });
  const seconds = cfg.quick ? 5 : 10;
  const tracing = cfg.profileTracing ? 'on' : 'off';
  const server = await startServer('service-profiled', 'service', 0, cfg.profileTracing, {}, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  log(`profile: warm-up ${cfg.warmupSec} s, then ${seconds} s profiled window (${cfg.connections} connections, tracing ${tracing})`);
  await loadgen.run({ url: server.url, connections: cfg.connections, durationSec: cfg.warmupSec, timeoutSec: 10, bodies: BODIES });
  await sleep(1_500);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const load = await loadgen.run({ url: server.url, connections: cfg.connections, durationSec: seconds, timeoutSec: 10, bodies: BODIES });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  await sleep(1_500);
  await server.proc.stop(20_000);
  serverLogDigest(server);
  // one profile per thread (the module loader of `--import tsx` runs on its own thread on Node 20):
  // the main thread's is the largest
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) throw new Error(`no .cpuprofile written in ${dir}; see ${server.proc.logFile}`);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof summariseProfile>[0];
  // V8 profile timestamps and process.hrtime are both CLOCK_MONOTONIC microseconds on Linux
  const inside = fromUs >= profile.startTime && toUs <= profile.endTime;
  if (!inside) notes.push('profile: load window is outside the profile clock range; summarised the whole profile (start-up included)');
  const summary = summariseProfile(profile, inside ? { fromUs, toUs } : undefined, 15);
  report.push(
    `\n== Profile: service with tracing ${tracing}, 0 ms model, ${cfg.connections} connections, ${seconds} s window (${fmt(load.rps, 0)} req/s) ==`,
    formatSummary(summary),
    `profile: ${path.relative(ROOT, file)} (open in Chrome DevTools > Performance, or summarise again with bench/cpuprofile-summary.ts)`,
  );
  results.profile = { file: path.relative(ROOT, file), windowUs: [fromUs, toUs], rps: load.rps, requests: load.completed, summary };
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const cfg = parseOptions(process.argv.slice(2));
const serverNodeVersion = execFileSync(cfg.nodeBin, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');

function gitInfo(): { commit: string; dirtyFiles: number } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return { commit, dirtyFiles: dirty };
  } catch {
    return { commit: 'unknown', dirtyFiles: -1 };
  }
}

async function main(): Promise<void> {
  const resultsDir = path.join(ROOT, 'bench/results');
  logDir = path.join(resultsDir, `${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });
  const t0 = Date.now();
  const meta = {
    startedAt: new Date().toISOString(),
    git: gitInfo(),
    serverNode: serverNodeVersion,
    serverNodeBin: cfg.nodeBin,
    serverFlags: cfg.serverFlags,
    driverNode: process.versions.node,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvgAtStart: os.loadavg(),
    openFileLimit: openFileLimit(),
  };
  if (existsSync(path.join(ROOT, '.env'))) notes.push('a .env file exists: the service reads it, but every variable the benchmark depends on is set explicitly');
  if (meta.cpus <= 2) {
    notes.push(
      `${meta.cpus} CPUs: the load generator, the OpenAI stand-in and the OTLP sink compete with the server for CPU (see the loadgen CPU% column); absolute req/s understate a dedicated core, ratios are the comparable numbers`,
    );
  }
  log(`servers on node ${serverNodeVersion} (${cfg.nodeBin}); driver/load generator/stand-ins on node ${process.versions.node}; logs in ${path.relative(ROOT, logDir)}`);

  langfuse = await startLangfusePromptStandIn({ publicKey: LF_PUBLIC, secretKey: LF_SECRET, prompts: promptSeed() });
  sinkUrl = (await startStandInProcess('otlp-sink', 'bench/otlp-sink.ts', [])).url;
  await loadgen.start();

  const results: Record<string, unknown> = {};
  const report: string[] = [];
  if (cfg.only.has('overhead') || cfg.only.has('tracing')) await sectionZeroMs(results, report);
  if (cfg.only.has('concurrency')) await sectionConcurrency(results, report);
  if (cfg.only.has('prompts')) await sectionPrompts(results, report);
  if (cfg.only.has('soak')) await sectionSoak(results, report);
  if (cfg.only.has('streaming')) {
    const streaming = await streamingSection({ root: ROOT, logDir, nodeBin: cfg.nodeBin, serverFlags: cfg.serverFlags, sinkUrl, quick: cfg.quick, baseEnv, log });
    report.push(...streaming.report);
    checks.push(...streaming.checks);
    results.streaming = streaming.results;
  }
  if (cfg.only.has('profile')) await sectionProfile(results, report);

  const sinkFinal = await sinkStats();
  if (sinkFinal.crossCheckMismatches > 0 || sinkFinal.rejected > 0) {
    notes.push(`OTLP sink: ${sinkFinal.crossCheckMismatches} span-count cross-check mismatches, ${sinkFinal.rejected} rejected exports`);
  }
  const durationSec = (Date.now() - t0) / 1000;

  const header = [
    `order-status service benchmark — ${meta.startedAt} — commit ${meta.git.commit}${meta.git.dirtyFiles > 0 ? ` (+${meta.git.dirtyFiles} uncommitted files)` : ''}`,
    `servers: node ${serverNodeVersion}${cfg.serverFlags.length ? ` ${cfg.serverFlags.join(' ')}` : ''}; load generator + stand-ins: node ${process.versions.node}; ` +
      `${meta.cpus} x ${meta.cpuModel}, ${meta.memGiB} GiB; ${cfg.quick ? 'QUICK run' : 'full run'} in ${fmt(durationSec / 60, 1)} min`,
  ];
  const lines = [
    ...header,
    ...report,
    '\n== Targets ==',
    ...checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`),
    ...(notes.length ? ['\n== Notes ==', ...notes.map((n) => `- ${n}`)] : []),
  ];
  const file = path.join(resultsDir, `${stamp}-node${serverNodeVersion}.json`);
  writeFileSync(file, JSON.stringify({ meta: { ...meta, durationSec, quick: cfg.quick }, config: cfg, results, checks, notes, sink: sinkFinal }, (_k, v: unknown) => (v instanceof Set ? [...v] : v), 2));
  process.stdout.write(`${lines.join('\n')}\n\nresults: ${path.relative(ROOT, file)}\n`);
}

function promptSeed(): LangfusePromptSeed[] {
  const local = JSON.parse(readFileSync(path.join(ROOT, 'prompts/order-status-answer.json'), 'utf8')) as {
    name: string;
    versions: { labels: string[]; config: unknown; commitMessage?: string; prompt: { role: string; content: string }[] }[];
  };
  return local.versions.map((v) => ({ name: local.name, type: 'chat', prompt: v.prompt, labels: v.labels, config: v.config, commitMessage: v.commitMessage ?? null }));
}

async function cleanup(): Promise<void> {
  loadgen.stop();
  await stopAllStarted();
  await langfuse?.close().catch(() => undefined);
}

process.on('SIGINT', () => {
  log('interrupted: stopping everything this benchmark started');
  void cleanup().finally(() => process.exit(130));
});

try {
  await main();
  await cleanup();
  process.exit(0);
} catch (error) {
  process.stderr.write(`bench: harness failure: ${(error as Error).stack ?? String(error)}\n`);
  await cleanup();
  process.exit(1);
}
