/**
 * `npm run bench:metrics` — what the SPEC §13 metrics add to the server's CPU per request.
 *
 * Two services, both tracing to the OTLP sink, identical but for OTEL_METRICS_EXPORTER (otlp vs
 * none), on a 0 ms OpenAI stand-in (gpt-4o-mini, so tokens and cost are recorded too). Same method
 * as bench/run.ts (bench/README.md): every process separate, server CPU = utime+stime from /proc
 * over a fixed number of requests plus the span export that follows, interleaved rounds, medians.
 * Then two views that a loaded machine cannot blur: a metrics-on server's --cpu-prof under load
 * (share of its busy time inside metrics code, callees included) and an in-process micro-benchmark
 * of one request's recordings. Target: metrics add <= 3% CPU per request (set for Node 24).
 *
 *   node --import tsx bench/metrics-cost.ts [--node <path>] [--rounds 7] [--duration 8] [--warmup 20]
 *     [--connections 16] [--export-interval-ms 15000]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inclusiveShare } from './cpuprofile-summary.js';
import type { LoadResult } from './load-generator.js';
import { LoadGenerator } from './lib/load-generator-client.js';
import { cpuMs, freePort, ManagedProcess, sleep, stopAllStarted } from './lib/proc.js';
import { fmt, median, table } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OPENAI_KEY = 'sk-bench-0000000000000000';
const TARGET_PCT = 3;
/** Every frame of the metrics code: our recording sites, the SDK and its OTLP exporter. */
const METRICS_FRAMES = /sdk-metrics|exporter-metrics|otlp-transformer\/build\/src\/metrics|telemetry\/metrics\.ts|model-call-outcome|request-metrics|price-catalog/;

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const nodeBin = path.resolve(option('node', process.execPath));
const rounds = Number(option('rounds', '7'));
const durationSec = Number(option('duration', '8'));
const warmupSec = Number(option('warmup', '20'));
const connections = Number(option('connections', '16'));
const exportIntervalMs = option('export-interval-ms', '15000');
const serverNode = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = path.join(ROOT, 'bench/results', `${stamp}-metrics-logs`);
mkdirSync(logDir, { recursive: true });
const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() });
const log = (message: string) => process.stderr.write(`[bench:metrics] ${message}\n`);
/** 16 users (autocannon prepares every body per connection: thousands made the load generator the bottleneck). */
const BODIES = Array.from({ length: 16 }, (_, i) =>
  JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: `usr_bench_${String(i).padStart(2, '0')}` }),
);

async function standIn(name: string, script: string, args: string[]): Promise<ManagedProcess> {
  const proc = new ManagedProcess({ name, command: process.execPath, args: ['--import', 'tsx', script, '--port', String(await freePort()), ...args], cwd: ROOT, env: baseEnv(), logFile: path.join(logDir, `${name}.log`) });
  await proc.waitForStdout(/listening (http:\/\/\S+)/, 30_000);
  return proc;
}
const urlOf = async (proc: ManagedProcess) => (await proc.waitForStdout(/listening (http:\/\/\S+)/, 1_000))[1] as string;

interface Variant {
  name: string;
  proc: ManagedProcess;
  url: string;
  runs: { cpuMsPerRequest: number; rps: number; errors: number }[];
}

async function startService(name: string, metrics: 'otlp' | 'none', openaiUrl: string, sinkUrl: string, nodeFlags: string[] = []): Promise<Variant> {
  const port = await freePort();
  const env = {
    ...baseEnv(),
    HOST: '127.0.0.1',
    PORT: String(port),
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: `${openaiUrl}/v1`,
    OPENAI_MODEL: 'gpt-4o-mini',
    PROMPT_SOURCE: 'local',
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    OTEL_METRICS_EXPORTER: metrics,
    OTEL_METRIC_EXPORT_INTERVAL: exportIntervalMs,
    LOG_LEVEL: 'warn',
    // Off: 16 users would hit it, and it costs the same in both variants.
    RATE_LIMIT_PER_USER_PER_MINUTE: '0',
    MAX_CONCURRENT_REQUESTS: '10000',
  };
  const proc = new ManagedProcess({ name, command: nodeBin, args: [...nodeFlags, '--import', 'tsx', 'src/server.ts'], cwd: ROOT, env, logFile: path.join(logDir, `${name}.log`) });
  const base = `http://127.0.0.1:${port}`;
  await proc.waitForHttp(`${base}/readyz`, 60_000);
  return { name, proc, url: `${base}/order-status`, runs: [] };
}

async function main(): Promise<void> {
  log(`servers on node ${serverNode}; ${rounds} rounds x ~${durationSec} s, ${connections} connections, metric export every ${exportIntervalMs} ms; logs in ${path.relative(ROOT, logDir)}`);
  const openai = await standIn('openai-stand-in', 'test/support/openai-stand-in.ts', ['--no-record', '--api-key', OPENAI_KEY]);
  const sink = await standIn('otlp-sink', 'bench/otlp-sink.ts', []);
  const loadgen = new LoadGenerator(ROOT, baseEnv);
  await loadgen.start();
  process.once('SIGINT', () => {
    log('interrupted: stopping everything this benchmark started');
    loadgen.stop();
    void stopAllStarted().finally(() => process.exit(130));
  });
  try {
    const [openaiUrl, sinkUrl] = [await urlOf(openai), await urlOf(sink)];
    const variants = [await startService('metrics-off', 'none', openaiUrl, sinkUrl), await startService('metrics-on', 'otlp', openaiUrl, sinkUrl)];
    const rps = new Map<string, number>();
    for (const v of variants) {
      log(`warm-up ${v.name} (${warmupSec} s)`);
      const warm = await loadgen.run({ url: v.url, connections, durationSec: warmupSec, timeoutSec: 10, bodies: BODIES });
      rps.set(v.name, warm.rps);
    }
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const cpu0 = cpuMs(v.proc.pid);
        const result: LoadResult = await loadgen.run({ url: v.url, connections, amount: Math.round((rps.get(v.name) ?? 100) * durationSec), timeoutSec: 10, bodies: BODIES });
        // The spans of these requests are exported within the 1 s batch delay: count that CPU too.
        await sleep(1_500);
        const run = { cpuMsPerRequest: (cpuMs(v.proc.pid) - cpu0) / Math.max(1, result.completed), rps: result.rps, errors: result.errors + result.non2xx };
        v.runs.push(run);
        rps.set(v.name, median(v.runs.map((r) => r.rps)));
        log(`  round ${round + 1}/${rounds} ${v.name.padEnd(11)} ${fmt(run.rps, 0)} req/s  ${fmt(run.cpuMsPerRequest, 3)} ms CPU/req  errors ${run.errors}`);
      }
    }
    const [off, on] = variants.map((v) => ({ name: v.name, cpu: median(v.runs.map((r) => r.cpuMsPerRequest)), rps: median(v.runs.map((r) => r.rps)), errors: v.runs.reduce((n, r) => n + r.errors, 0) })) as [
      { name: string; cpu: number; rps: number; errors: number },
      { name: string; cpu: number; rps: number; errors: number },
    ];
    const addedPct = ((on.cpu - off.cpu) / off.cpu) * 100;
    // Per-round pairs (same round, back to back): the spread behind the medians, and their own median.
    const pairs = variants[1]?.runs.map((r, i) => ((r.cpuMsPerRequest - (variants[0]?.runs[i]?.cpuMsPerRequest ?? NaN)) / (variants[0]?.runs[i]?.cpuMsPerRequest ?? NaN)) * 100) ?? [];
    await Promise.all(variants.map((v) => v.proc.stop()));

    // Contention-proof view: the share of the metrics-on server's own CPU profile spent in metrics code.
    const profDir = path.join(logDir, 'cpuprofile');
    const profiled = await startService('metrics-on-profiled', 'otlp', openaiUrl, sinkUrl, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    log(`profile: warm-up ${warmupSec} s, then a 10 s window`);
    await loadgen.run({ url: profiled.url, connections, durationSec: warmupSec, timeoutSec: 10, bodies: BODIES });
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    await loadgen.run({ url: profiled.url, connections, durationSec: 10, timeoutSec: 10, bodies: BODIES });
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await profiled.proc.stop(20_000);
    const profileFile = readdirSync(profDir).map((f) => path.join(profDir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
    const share = inclusiveShare(JSON.parse(readFileSync(profileFile, 'utf8')) as Parameters<typeof inclusiveShare>[0], METRICS_FRAMES, { fromUs, toUs });

    // The recordings of one request on a real MeterProvider, without HTTP/graph noise.
    const micro = JSON.parse(execFileSync(nodeBin, ['--import', 'tsx', 'bench/metrics-record-micro.ts'], { cwd: ROOT, env: baseEnv(), encoding: 'utf8', timeout: 180_000 }).trim()) as { nsPerRequest: number };
    const lines = [
      `metrics cost — servers on node ${serverNode}, ${rounds} interleaved rounds (medians), 0 ms model, tracing on in both`,
      table(['variant', 'req/s', 'CPU ms/req', 'errors'], [off, on].map((v) => [v.name, fmt(v.rps, 0), fmt(v.cpu, 3), String(v.errors)])),
      `per-round added CPU: ${pairs.map((p) => `${fmt(p, 1)}%`).join(' ')} (median of the pairs ${fmt(median(pairs), 1)}%)`,
      `CPU profile of the metrics-on server (10 s under load): ${fmt(share.pct, 2)}% of its busy time inside metrics code, callees included (${fmt(share.matchedMs, 0)} of ${fmt(share.busyMs, 0)} ms; ${path.relative(ROOT, profileFile)})`,
      `recording one request's metrics (micro, bench/metrics-record-micro.ts): ${fmt(micro.nsPerRequest / 1000, 1)} µs = ${fmt((micro.nsPerRequest / 1e6 / off.cpu) * 100, 2)}% of the metrics-off CPU per request`,
      `${addedPct <= TARGET_PCT ? 'PASS' : 'FAIL'}  metrics add ${fmt(addedPct, 1)}% CPU per request (${fmt((on.cpu - off.cpu) * 1000, 0)} µs; target <= ${TARGET_PCT}%)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const file = path.join(ROOT, 'bench/results', `${stamp}-metrics-node${serverNode.replace(/^v/, '')}.json`);
    writeFileSync(file, JSON.stringify({ serverNode, rounds, durationSec, connections, exportIntervalMs, addedPct, pairedMedianPct: median(pairs), profileSharePct: share.pct, microNsPerRequest: micro.nsPerRequest, variants: variants.map((v) => ({ name: v.name, runs: v.runs })) }, null, 2));
  } finally {
    loadgen.stop();
    await stopAllStarted();
  }
}

await main();
