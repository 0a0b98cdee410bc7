/**
 * Shared plumbing of the benchmark sections: the processes every section uses (load generator,
 * Langfuse prompt stand-in, OTLP sink, OpenAI stand-ins), the servers under test, and small
 * request helpers. The driver (bench/run.ts) starts it once with `startHarness`.
 *
 * Process layout: servers under test on `--node`, each in its own process; the load generator,
 * the OpenAI stand-ins and the OTLP sink in their own processes on the driver's node; only the
 * Langfuse prompt stand-in lives in the driver process, so that `langfuse().promptFetches()` can
 * be read directly.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLangfusePromptStandIn, type LangfuseExtraRoutes, type LangfusePromptSeed, type LangfusePromptStandIn } from '../../test/support/langfuse-prompt-stand-in.js';
import { SETTINGS_VARIABLES } from '../../src/config/settings.js';
import type { SinkStats } from '../otlp-sink.js';
import { LoadGenerator } from './load-generator-client.js';
import { freePort, ManagedProcess, sleep } from './proc.js';
import { log, type Report } from './report.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OPENAI_KEY = 'sk-bench-0000000000000000';
export const LF_PUBLIC = 'pk-lf-bench';
export const LF_SECRET = 'sk-lf-bench';

/** Options every section reads (bench/run.ts declares them). */
export interface CommonConfig {
  quick: boolean;
  /** Node binary of the servers under test (and of in-process micro-benchmarks). */
  nodeBin: string;
  serverNodeVersion: string;
  /** Extra node flags for every server under test. */
  serverFlags: string[];
  rounds: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  /** `--baseline <git ref>`: sections that compare also measure that commit's tree (`baselineTree`). */
  baseline?: string | undefined;
}

interface HarnessState {
  cfg: CommonConfig;
  report: Report;
  logDir: string;
  langfuse: LangfusePromptStandIn;
  sink: { proc: ManagedProcess; url: string };
  loadgen: LoadGenerator;
}
let state: HarnessState | undefined;
const openaiStandIns = new Map<number, { proc: ManagedProcess; url: string }>();

function current(): HarnessState {
  if (!state) throw new Error('bench harness not started (bench/run.ts calls startHarness)');
  return state;
}

export const config = (): CommonConfig => current().cfg;
export const logDir = (): string => current().logDir;
export const loadgen = (): LoadGenerator => current().loadgen;
export const langfuse = (): LangfusePromptStandIn => current().langfuse;
export const sinkProcess = (): ManagedProcess => current().sink.proc;
export const sinkUrl = (): string => current().sink.url;

/** PATH and HOME only: nothing from the developer's environment leaks into what is measured. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

function promptSeed(): LangfusePromptSeed[] {
  const local = JSON.parse(readFileSync(path.join(ROOT, 'prompts/order-status-answer.json'), 'utf8')) as {
    name: string;
    versions: { labels: string[]; config: unknown; commitMessage?: string; prompt: { role: string; content: string }[] }[];
  };
  return local.versions.map((v) => ({ name: local.name, type: 'chat', prompt: v.prompt, labels: v.labels, config: v.config, commitMessage: v.commitMessage ?? null }));
}

/**
 * `POST /api/public/scores` answered as Langfuse answers a valid score (200 `{"id"}`), without
 * storing it: the service sends two scores per answered run with tracing on, and the test
 * stand-in's validation and storage would only load the driver (and grow over a soak).
 */
const acceptScores: LangfuseExtraRoutes = {
  handle(request) {
    if (request.method !== 'POST' || request.pathname !== '/api/public/scores') return undefined;
    request.checkAuth();
    const { id } = JSON.parse(request.rawBody.toString('utf8')) as { id?: string };
    return { status: 200, body: { id: id ?? 'bench-score' } };
  },
};

export async function startHarness(cfg: CommonConfig, report: Report, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const lf = await startLangfusePromptStandIn({ publicKey: LF_PUBLIC, secretKey: LF_SECRET, prompts: promptSeed(), extraRoutes: acceptScores });
  const partial = { cfg, report, logDir: dir, langfuse: lf } as HarnessState;
  state = partial;
  partial.sink = await startStandInProcess('otlp-sink', 'bench/otlp-sink.ts', []);
  partial.loadgen = new LoadGenerator(ROOT, baseEnv);
  await partial.loadgen.start();
}

export async function stopHarness(): Promise<void> {
  state?.loadgen?.stop();
  await state?.langfuse.close().catch(() => undefined);
}

async function startStandInProcess(name: string, script: string, args: string[]): Promise<{ proc: ManagedProcess; url: string }> {
  const port = await freePort();
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', script, '--port', String(port), ...args],
    cwd: ROOT,
    env: baseEnv(),
    logFile: path.join(logDir(), `${name}.log`),
  });
  const match = await proc.waitForStdout(/listening (http:\/\/\S+)/, 30_000);
  return { proc, url: match[1] as string };
}

/** One OpenAI stand-in process per model latency, shared by every server that uses it. */
export async function openaiStandIn(latencyMs: number): Promise<{ proc: ManagedProcess; url: string }> {
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

export async function sinkStats(): Promise<SinkStats> {
  const res = await fetch(`${current().sink.url}/stats`);
  return (await res.json()) as SinkStats;
}

/** Waits until the sink has `expected` spans more than `before`, or its count stops moving. */
export async function waitForSpans(before: number, expected: number, maxMs = 20_000): Promise<number> {
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

// ---------------------------------------------------------------------------
// Servers under test
// ---------------------------------------------------------------------------

export type Kind = 'service' | 'bare-fastify' | 'bare-langgraph';

export interface Server {
  name: string;
  kind: Kind;
  traced: boolean;
  proc: ManagedProcess;
  base: string;
  url: string;
  openai: { proc: ManagedProcess; url: string };
  /** The source tree it runs from (this checkout, or a `--baseline` tree). */
  tree: string;
}

/**
 * Env for the service: every variable it reads is set (empty = its default), so a developer's
 * `.env` cannot change what is measured.
 */
export function serviceEnv(name: string, openaiUrl: string, traced: boolean, extra: Record<string, string>): Record<string, string> {
  return {
    ...baseEnv(),
    ...Object.fromEntries(SETTINGS_VARIABLES.map((v) => [v, ''])),
    // its own file, out of the checkout (Langfuse mode writes the last fetched templates)
    PROMPT_SNAPSHOT_FILE: path.join(logDir(), `${name}-prompt-snapshot.json`),
    HOST: '127.0.0.1',
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: `${openaiUrl}/v1`,
    OPENAI_API: 'responses',
    OPENAI_FALLBACK_MODEL: '',
    LANGFUSE_PUBLIC_KEY: LF_PUBLIC,
    LANGFUSE_SECRET_KEY: LF_SECRET,
    LANGFUSE_BASE_URL: langfuse().baseUrl,
    PROMPT_SOURCE: 'langfuse',
    PROMPT_EXPERIMENT: '',
    PROMPT_OVERRIDABLE_LABELS: '',
    SERVICE_API_KEYS: '',
    DEPLOYMENT_ENVIRONMENT: 'development',
    CAPTURE_MODE: 'metadata_only',
    OTEL_SDK_DISABLED: traced ? 'false' : 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: current().sink.url,
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

/**
 * Starts a server under test on `--node` and waits until it answers (and, for a 0 ms model, until
 * one request succeeds with outcome `answer`). `tree` runs another source tree (`--baseline`).
 */
export async function startServer(
  name: string,
  kind: Kind,
  modelLatencyMs: number,
  traced: boolean,
  extraEnv: Record<string, string> = {},
  extraNodeFlags: string[] = [],
  tree: string = ROOT,
): Promise<Server> {
  const cfg = config();
  const openai = await openaiStandIn(modelLatencyMs);
  const port = await freePort();
  const script = kind === 'service' ? 'src/server.ts' : `bench/${kind}-server.ts`;
  const env =
    kind === 'service'
      ? serviceEnv(name, openai.url, traced, extraEnv)
      : { ...baseEnv(), HOST: '127.0.0.1', OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: `${openai.url}/v1`, OPENAI_API: 'responses', ...extraEnv };
  env.PORT = String(port);
  const proc = new ManagedProcess({
    name,
    command: cfg.nodeBin,
    args: [...cfg.serverFlags, ...extraNodeFlags, '--import', 'tsx', script],
    cwd: tree,
    env,
    logFile: path.join(logDir(), `${name}.log`),
  });
  const base = `http://127.0.0.1:${port}`;
  await proc.waitForHttp(`${base}/healthz`, 60_000);
  if (kind === 'service') await proc.waitForHttp(`${base}/readyz`, 30_000);
  const server: Server = { name, kind, traced, proc, base, url: `${base}/order-status`, openai, tree };
  if (modelLatencyMs < 1_000) await sanityCheck(server);
  return server;
}

/** 20,000 end users of equal id length: at ~1,000 req/s each sees ~3 requests a minute, under the per-user limit. */
export const BODIES = Array.from({ length: 20_000 }, (_, i) =>
  JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: `usr_bench_${String(i).padStart(5, '0')}` }),
);

export async function post(server: Server, body = BODIES[0] as string): Promise<{ status: number; json: Record<string, unknown> }> {
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
export async function calibrateSpansPerRequest(server: Server, n = 20): Promise<number> {
  // let the spans of earlier requests (the sanity check) arrive first
  const start = (await sinkStats()).spans;
  const before = start + (await waitForSpans(start, Number.POSITIVE_INFINITY, 8_000));
  for (let i = 0; i < n; i += 1) await post(server, BODIES[i % BODIES.length]);
  const received = await waitForSpans(before, Number.POSITIVE_INFINITY, 8_000);
  return received / n;
}

/** Warnings and errors a server logged while measured (start-up announcements left out), as a note. */
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
    current().report.note(`${server.name} logged: ${[...counts.entries()].map(([msg, n]) => `${n}x "${msg}"`).join(', ')} (${path.relative(ROOT, server.proc.logFile)})`);
  }
}

export async function stopServers(servers: Server[], graceMs?: number): Promise<void> {
  await Promise.all(servers.map((s) => s.proc.stop(graceMs)));
  for (const s of servers) serverLogDigest(s);
}

/**
 * Another commit's source tree for before/after runs in the same interleaved rounds: `git archive`
 * of `ref` in the temp directory (outside the checkout, so no test runner, linter or type check
 * picks it up). Its dependencies: this checkout's node_modules when both lockfiles are the same,
 * else its own `npm ci` (the npm cache makes that quick). Read-only for the repository.
 */
export function prepareTree(ref: string): { dir: string; commit: string } {
  const known = trees.get(ref);
  if (known) return known;
  const commit = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dir = path.join(os.tmpdir(), 'order-status-bench-trees', commit);
  if (!existsSync(path.join(dir, 'src/server.ts'))) {
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: ROOT, maxBuffer: 256 * 2 ** 20 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  }
  if (!existsSync(path.join(dir, 'node_modules'))) {
    const sameLock = readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
    if (sameLock) {
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    } else {
      log(`baseline tree: ${ref} (${commit}) has other dependencies: npm ci in ${dir}`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    }
  }
  log(`baseline tree: ${ref} (${commit}) in ${dir}`);
  trees.set(ref, { dir, commit });
  return { dir, commit };
}
const trees = new Map<string, { dir: string; commit: string }>();

/** The `--baseline` tree, if one was asked for. */
export function baselineTree(): { ref: string; dir: string; commit: string } | undefined {
  const ref = config().baseline;
  return ref ? { ref, ...prepareTree(ref) } : undefined;
}
