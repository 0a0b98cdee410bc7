/**
 * Section "profile" (only when asked for): `--cpu-prof` of the service under the 0 ms load, with
 * tracing on, off, or both (default), as deployed or with the local prompt file (tracing alone).
 * Each profile is summarised inside the load window only, by package and by function
 * (bench/cpuprofile-summary.ts), with time in Node internals and natives charged to the library
 * that called them (so the exporter's serialisation and socket writes count as tracing). With both,
 * the difference per request shows what tracing costs and where; with `--baseline <ref>`, the
 * same profiles of that commit's tree follow, for before/after.
 *
 * The headline, "tracing's own code" as a share of busy time, is a ratio inside one profile, so
 * contention (which slows everything alike) does not blur it; absolute µs do: sampled time is wall
 * time between samples (it includes time waiting for a core) and the profiler costs CPU too.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { formatSummary, ownedShare, summariseProfile, type ProfileSummary } from '../cpuprofile-summary.js';
import { baselineTree, BODIES, logDir, loadgen, ROOT, startServer, stopServers } from '../lib/harness.js';
import { cpuMs, sleep } from '../lib/proc.js';
import { log } from '../lib/report.js';
import { fmt, table } from '../lib/stats.js';
import type { BenchSection, SectionContext } from './section.js';

interface Profiled {
  /** `this tree` or the baseline's `<ref> (<commit>)`. */
  tree: string;
  tracing: boolean;
  file: string;
  requests: number;
  rps: number;
  /** Server process CPU (all threads) per request over the profiled window, profiler included. */
  cpuMsPerRequest: number;
  windowUs: [number, number];
  summary: ProfileSummary;
  /** Share of busy time in tracing's own code (see TRACING_CODE), runtime work it called included. */
  tracingPct: number;
  gcPct: number;
}

/**
 * Tracing's own code: the OTel API/SDK/exporters and @fastify/otel, and ours in src/telemetry
 * (metrics code left out). With tracing off a little remains (the API's no-op calls, conversation
 * ids, the capture policy): the "off" share.
 */
const TRACING_CODE = /node_modules\/@opentelemetry\/(?!sdk-metrics\/|exporter-metrics-)|node_modules\/@fastify\/otel\/|\/src\/telemetry\/(?!metrics)/;

/** `--profile-prompts local`: the local prompt file and no Langfuse keys (no scores are sent) and no metrics: tracing alone. */
const LOCAL_PROMPT_ENV = { PROMPT_SOURCE: 'local', LANGFUSE_PUBLIC_KEY: '', LANGFUSE_SECRET_KEY: '', OTEL_METRICS_EXPORTER: 'none' };

async function profileOnce({ cfg, report, options }: SectionContext, tracing: boolean, seconds: number, tree?: { label: string; dir: string; prefix: string }): Promise<Profiled> {
  const label = tracing ? 'on' : 'off';
  const name = `${tree?.prefix ?? 'service'}-profiled-tracing-${label}`;
  const dir = path.join(logDir(), `cpuprofile-${name}`);
  mkdirSync(dir, { recursive: true });
  const env = options.str('profile-prompts') === 'local' ? LOCAL_PROMPT_ENV : {};
  const server = await startServer(name, 'service', 0, tracing, env, ['--cpu-prof', `--cpu-prof-dir=${dir}`], tree?.dir);
  log(`profile: ${name}: warm-up ${cfg.warmupSec} s, then ${seconds} s profiled window (${cfg.connections} connections)`);
  await loadgen().run({ url: server.url, connections: cfg.connections, durationSec: cfg.warmupSec, timeoutSec: 10, bodies: BODIES });
  await sleep(1_500);
  const cpu0 = cpuMs(server.proc.pid);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const load = await loadgen().run({ url: server.url, connections: cfg.connections, durationSec: seconds, timeoutSec: 10, bodies: BODIES });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu1 = cpuMs(server.proc.pid);
  await sleep(1_500);
  await stopServers([server], 20_000);
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
  if (!inside) report.note(`profile ${name}: load window is outside the profile clock range; summarised the whole profile (start-up included)`);
  const window = inside ? { fromUs, toUs } : undefined;
  const summary = summariseProfile(profile, window, 15);
  return {
    tree: tree?.label ?? 'this tree',
    tracing,
    file: path.relative(ROOT, file),
    requests: load.completed,
    rps: load.rps,
    cpuMsPerRequest: (cpu1 - cpu0) / Math.max(1, load.completed),
    windowUs: [fromUs, toUs],
    summary,
    tracingPct: ownedShare(profile, TRACING_CODE, window).pct,
    gcPct: ((summary.groups.find((g) => g.group === 'GC')?.ms ?? 0) / Math.max(1e-9, summary.busyMs)) * 100,
  };
}

const usPerRequest = (ms: number, p: Profiled) => (ms * 1000) / Math.max(1, p.requests);
const signed = (v: number) => `${v >= 0 ? '+' : ''}${fmt(v, 1)}`;

/** Per package: µs of samples per request, tracing on vs off, biggest differences first. */
function differenceTable(on: Profiled, off: Profiled): string {
  const groups = new Set([...on.summary.attributed.map((g) => g.group), ...off.summary.attributed.map((g) => g.group)]);
  const perReq = (p: Profiled, group: string) => usPerRequest(p.summary.attributed.find((g) => g.group === group)?.ms ?? 0, p);
  const rows = [...groups]
    .map((g) => ({ group: g, on: perReq(on, g), off: perReq(off, g) }))
    .sort((a, b) => b.on - b.off - (a.on - a.off))
    .filter((r) => Math.abs(r.on - r.off) >= 1 || r.on >= 20);
  const total = { on: usPerRequest(on.summary.busyMs, on), off: usPerRequest(off.summary.busyMs, off) };
  return table(
    ['package', 'on µs/req', 'off µs/req', 'on − off'],
    [...rows.map((r) => [r.group, fmt(r.on, 1), fmt(r.off, 1), signed(r.on - r.off)]), ['total (busy)', fmt(total.on, 1), fmt(total.off, 1), signed(total.on - total.off)]],
  );
}

export const profileSection: BenchSection = {
  name: 'profile',
  description: '--cpu-prof of the service under the 0 ms load, summarised by package; tracing on vs off (and --baseline)',
  byDefault: false,
  options: [
    { name: 'profile-tracing', kind: 'string', full: 'both', help: 'profile the service with tracing on, off or both (then also their difference per request)' },
    { name: 'profile-prompts', kind: 'string', full: 'langfuse', help: 'langfuse (as deployed: tracing on also sends the 2 automatic scores, and metrics) or local (tracing alone: no scores, no metrics)' },
  ],
  async run(ctx) {
    const { cfg, options, report, results } = ctx;
    const mode = options.str('profile-tracing');
    if (mode !== 'on' && mode !== 'off' && mode !== 'both') throw new Error('--profile-tracing takes on, off or both');
    const prompts = options.str('profile-prompts');
    if (prompts !== 'langfuse' && prompts !== 'local') throw new Error('--profile-prompts takes langfuse or local');
    const seconds = cfg.quick ? 5 : 10;
    const base = baselineTree();
    const trees = [undefined, ...(base ? [{ label: `${base.ref} (${base.commit})`, dir: base.dir, prefix: `baseline-${base.commit}` }] : [])];
    const profiles: Profiled[] = [];
    for (const tree of trees) {
      if (mode !== 'off') profiles.push(await profileOnce(ctx, true, seconds, tree));
      if (mode !== 'on') profiles.push(await profileOnce(ctx, false, seconds, tree));
    }
    const title = (p: Profiled) => `${p.tree}, tracing ${p.tracing ? 'on' : 'off'}, ${prompts} prompts, 0 ms model, ${cfg.connections} connections, ${seconds} s window (${fmt(p.rps, 0)} req/s)`;
    const headline = (p: Profiled) =>
      `${fmt(usPerRequest(p.summary.busyMs, p), 0)} µs sampled per request on the main thread (server CPU ${fmt(p.cpuMsPerRequest * 1000, 0)} µs, all threads, profiler included); ` +
      `tracing's own code ${fmt(p.tracingPct, 1)}% of busy time, GC ${fmt(p.gcPct, 1)}%`;
    for (const p of profiles.filter((x) => x.tree === 'this tree')) {
      report.section(`Profile: ${title(p)}`);
      report.push(headline(p), formatSummary(p.summary), `profile: ${p.file} (open in Chrome DevTools > Performance, or summarise again with bench/cpuprofile-summary.ts)`);
    }
    for (const label of new Set(profiles.map((p) => p.tree))) {
      const on = profiles.find((p) => p.tracing && p.tree === label);
      const off = profiles.find((p) => !p.tracing && p.tree === label);
      if (!on || !off) continue;
      report.section(`Profile difference, ${label}: tracing on − off, µs of main-thread samples per request (runtime work charged to the library that called it)`);
      if (label !== 'this tree') report.push(`tracing on: ${headline(on)}`, `tracing off: ${headline(off)}`);
      const tracingFunctions = on.summary.attributedFunctions.filter((f) => (f.group === 'OTel' && !/ @opentelemetry\/(sdk-metrics|exporter-metrics)/.test(f.fn)) || / src\/telemetry\/(?!metrics)/.test(f.fn)).slice(0, 15);
      report.push(
        differenceTable(on, off),
        '',
        'tracing on: where tracing\'s own time goes (function that did the work or called the runtime for it):',
        ...tracingFunctions.map((f) => `  ${fmt(usPerRequest(f.ms, on), 1).padStart(6)} µs/req  ${f.fn}`),
      );
      report.summary({
        figure: `profile, ${label} (${prompts} prompts): tracing's own code, share of busy time, tracing on / off; GC on / off`,
        value: `${fmt(on.tracingPct, 1)}% / ${fmt(off.tracingPct, 1)}%; ${fmt(on.gcPct, 1)}% / ${fmt(off.gcPct, 1)}%`,
      });
    }
    results.profile = profiles.map((p) => ({ tree: p.tree, tracing: p.tracing, file: p.file, windowUs: p.windowUs, rps: p.rps, requests: p.requests, cpuMsPerRequest: p.cpuMsPerRequest, tracingPct: p.tracingPct, gcPct: p.gcPct, summary: p.summary }));
  },
};
