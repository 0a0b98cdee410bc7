/**
 * Section "profile" (only when asked for): `--cpu-prof` of the service under the 0 ms load, with
 * tracing on, off, or both (default). Each profile is summarised by package (bench/cpuprofile-
 * summary.ts) inside the load window only; with both, the difference per request shows what
 * tracing costs and where (time in Node internals and natives charged to the library that called
 * them, so JSON.stringify or socket writes of the exporter count as OTel).
 *
 * Sampled time is wall time between samples of the main thread: on a loaded machine it includes
 * time the thread waited for a core, and the profiler adds its own cost. So the µs per request
 * here are larger than the CPU figures of the other sections; compare them with each other.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { formatSummary, summariseProfile, type ProfileSummary } from '../cpuprofile-summary.js';
import { BODIES, logDir, loadgen, ROOT, startServer, stopServers } from '../lib/harness.js';
import { cpuMs, sleep } from '../lib/proc.js';
import { log } from '../lib/report.js';
import { fmt, table } from '../lib/stats.js';
import type { BenchSection, SectionContext } from './section.js';

interface Profiled {
  tracing: boolean;
  file: string;
  requests: number;
  rps: number;
  /** Server process CPU (all threads) per request over the profiled window, profiler included. */
  cpuMsPerRequest: number;
  windowUs: [number, number];
  summary: ProfileSummary;
}

/** `--profile-prompts local`: the local prompt file and no Langfuse keys (no scores are sent) and no metrics: tracing alone. */
const LOCAL_PROMPT_ENV = { PROMPT_SOURCE: 'local', LANGFUSE_PUBLIC_KEY: '', LANGFUSE_SECRET_KEY: '', OTEL_METRICS_EXPORTER: 'none' };

async function profileOnce({ cfg, report, options }: SectionContext, tracing: boolean, seconds: number): Promise<Profiled> {
  const label = tracing ? 'on' : 'off';
  const dir = path.join(logDir(), `cpuprofile-tracing-${label}`);
  mkdirSync(dir, { recursive: true });
  const env = options.str('profile-prompts') === 'local' ? LOCAL_PROMPT_ENV : {};
  const server = await startServer(`service-profiled-tracing-${label}`, 'service', 0, tracing, env, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  log(`profile: tracing ${label}: warm-up ${cfg.warmupSec} s, then ${seconds} s profiled window (${cfg.connections} connections)`);
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
  if (!inside) report.note(`profile (tracing ${label}): load window is outside the profile clock range; summarised the whole profile (start-up included)`);
  const summary = summariseProfile(profile, inside ? { fromUs, toUs } : undefined, 15);
  return { tracing, file: path.relative(ROOT, file), requests: load.completed, rps: load.rps, cpuMsPerRequest: (cpu1 - cpu0) / Math.max(1, load.completed), windowUs: [fromUs, toUs], summary };
}

const usPerRequest = (ms: number, p: Profiled) => (ms * 1000) / Math.max(1, p.requests);

export const profileSection: BenchSection = {
  name: 'profile',
  description: '--cpu-prof of the service under the 0 ms load, summarised by package; tracing on vs off',
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
    const profiles: Profiled[] = [];
    if (mode !== 'off') profiles.push(await profileOnce(ctx, true, seconds));
    if (mode !== 'on') profiles.push(await profileOnce(ctx, false, seconds));
    for (const p of profiles) {
      report.section(`Profile: service with tracing ${p.tracing ? 'on' : 'off'}, ${prompts} prompts, 0 ms model, ${cfg.connections} connections, ${seconds} s window (${fmt(p.rps, 0)} req/s)`);
      report.push(
        `${fmt(usPerRequest(p.summary.busyMs, p), 0)} µs sampled per request on the main thread; server CPU ${fmt(p.cpuMsPerRequest * 1000, 0)} µs per request (all threads, profiler included)`,
        formatSummary(p.summary),
        `profile: ${p.file} (open in Chrome DevTools > Performance, or summarise again with bench/cpuprofile-summary.ts)`,
      );
    }
    const on = profiles.find((p) => p.tracing);
    const off = profiles.find((p) => !p.tracing);
    if (on && off) {
      const groups = new Set([...on.summary.attributed.map((g) => g.group), ...off.summary.attributed.map((g) => g.group)]);
      const perReq = (p: Profiled, group: string) => usPerRequest(p.summary.attributed.find((g) => g.group === group)?.ms ?? 0, p);
      const rows = [...groups]
        .map((g) => ({ group: g, on: perReq(on, g), off: perReq(off, g) }))
        .sort((a, b) => b.on - b.off - (a.on - a.off))
        .filter((r) => Math.abs(r.on - r.off) >= 1 || r.on >= 20);
      const total = { on: usPerRequest(on.summary.busyMs, on), off: usPerRequest(off.summary.busyMs, off) };
      const otelFunctions = on.summary.attributedFunctions.filter((f) => f.group === 'OTel' || /^[^ ]+ src\/telemetry\//.test(f.fn)).slice(0, 15);
      report.section('Profile difference: tracing on − off, µs of main-thread samples per request (runtime work charged to the library that called it)');
      report.push(
        table(
          ['package', 'on µs/req', 'off µs/req', 'on − off'],
          [
            ...rows.map((r) => [r.group, fmt(r.on, 1), fmt(r.off, 1), `${r.on - r.off >= 0 ? '+' : ''}${fmt(r.on - r.off, 1)}`]),
            ['total (busy)', fmt(total.on, 1), fmt(total.off, 1), `${total.on - total.off >= 0 ? '+' : ''}${fmt(total.on - total.off, 1)}`],
          ],
        ),
        `server CPU per request over the windows (all threads, profiler included): on ${fmt(on.cpuMsPerRequest * 1000, 0)} µs, off ${fmt(off.cpuMsPerRequest * 1000, 0)} µs`,
        '',
        'tracing on: where the OTel time goes (function that did the work or called the runtime for it):',
        ...otelFunctions.map((f) => `  ${fmt(usPerRequest(f.ms, on), 1).padStart(6)} µs/req  ${f.fn}`),
      );
    }
    results.profile = profiles.map((p) => ({ tracing: p.tracing, file: p.file, windowUs: p.windowUs, rps: p.rps, requests: p.requests, cpuMsPerRequest: p.cpuMsPerRequest, summary: p.summary }));
  },
};
