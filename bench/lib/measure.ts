/**
 * One measured load run and its summary over rounds. The headline figure of every comparison is
 * the SERVER PROCESS's CPU per request (utime+stime of all its threads from /proc, from the start
 * of the run until its spans are exported, divided by the requests): on two shared cores the
 * load generator, the stand-ins and the sink compete with the server, so throughput ratios
 * converge to 1.0 once something else saturates and hide server cost. Throughput is reported
 * alongside, with the resource that limited it (from every process's own /proc CPU and the
 * machine's /proc/stat).
 */
import os from 'node:os';
import type { LoadResult, LoadSpec } from '../load-generator.js';
import { loadgen, sinkProcess, sinkStats, waitForSpans, type Server } from './harness.js';
import { cpuMs, cpuMsOrNaN, machineCpuMs, sleep, statusMiB } from './proc.js';
import { median } from './stats.js';

export interface RunMeasurement extends LoadResult {
  server: string;
  round: number;
  serverCpuMs: number;
  cpuMsPerRequest: number;
  /** CPU% of one core during the load (100 = one core busy), per process. */
  serverCpuPct: number;
  loadgenCpuPct: number;
  standInCpuPct: number;
  sinkCpuPct: number;
  /** This driver (hosts the Langfuse stand-in). */
  driverCpuPct: number;
  /** The whole machine, every core: `cpus` x 100 = all busy. */
  machineCpuPct: number;
  /** machine − the processes above: other tenants of a shared machine (and our idle servers). */
  othersCpuPct: number;
  cpus: number;
  rssAfterMiB: number;
  spansExpected?: number;
  spansReceived?: number;
  spansDropped?: number;
}

export function errorsOf(r: LoadResult): number {
  return r.errors + r.non2xx;
}

/**
 * One measured load run. Server CPU is read before the run and after the spans of the run have
 * been exported (for traced servers), so export cost is attributed to the requests that caused it.
 * The other processes' CPU is read over the load itself (what competed with the server).
 */
export async function measure(server: Server, spec: LoadSpec, round: number, spansPerRequest?: number): Promise<RunMeasurement> {
  const lg = loadgen();
  const sinkPid = sinkProcess().pid;
  const sink0 = server.traced ? (await sinkStats()).spans : 0;
  const cpu0 = cpuMs(server.proc.pid);
  const others0 = { lg: cpuMs(lg.pid), st: cpuMs(server.openai.proc.pid), sink: cpuMsOrNaN(sinkPid), driver: process.cpuUsage(), machine: machineCpuMs() };
  const result = await lg.run(spec);
  const cpuAtEnd = cpuMs(server.proc.pid);
  const lg1 = cpuMs(lg.pid);
  const st1 = cpuMs(server.openai.proc.pid);
  const sink1 = cpuMsOrNaN(sinkPid);
  const driver = process.cpuUsage(others0.driver);
  const machine1 = machineCpuMs();
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
  const pct = (ms: number) => (ms / elapsedMs) * 100;
  const serverCpuPct = pct(cpuAtEnd - cpu0);
  const loadgenCpuPct = pct(lg1 - others0.lg);
  const standInCpuPct = pct(st1 - others0.st);
  const sinkCpuPct = pct(sink1 - others0.sink);
  const driverCpuPct = pct((driver.user + driver.system) / 1000);
  // share of all cores busy over the load (/proc/stat), as % of one core like the others
  const machineCpuPct = ((machine1.busyMs - others0.machine.busyMs) / Math.max(1, machine1.totalMs - others0.machine.totalMs)) * os.cpus().length * 100;
  const ours = serverCpuPct + loadgenCpuPct + standInCpuPct + (Number.isFinite(sinkCpuPct) ? sinkCpuPct : 0) + driverCpuPct;
  return {
    ...result,
    server: server.name,
    round,
    serverCpuMs: cpu1 - cpu0,
    cpuMsPerRequest: (cpu1 - cpu0) / Math.max(1, result.completed),
    serverCpuPct,
    loadgenCpuPct,
    standInCpuPct,
    sinkCpuPct,
    driverCpuPct,
    machineCpuPct,
    othersCpuPct: Math.max(0, machineCpuPct - ours),
    cpus: os.cpus().length,
    rssAfterMiB: statusMiB(server.proc.pid, 'VmRSS'),
    ...spans,
  };
}

export interface VariantSummary {
  name: string;
  runs: number;
  /** Medians over the rounds. */
  cpuMsPerRequest: number;
  /** Spread of CPU per request over the rounds (min, max). */
  cpuMsPerRequestMin: number;
  cpuMsPerRequestMax: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  standInCpuPct: number;
  sinkCpuPct: number;
  driverCpuPct: number;
  machineCpuPct: number;
  othersCpuPct: number;
  cpus: number;
  /** What limited throughput (see `saturation`), from the median CPU shares. */
  saturated: Saturation;
  errors: number;
  requests: number;
  peakRssMiB: number;
  spansExpected?: number;
  spansReceived?: number;
  spansDropped?: number;
}

export function summarise(name: string, runs: RunMeasurement[], peakRssMiB: number): VariantSummary {
  const traced = runs.some((r) => r.spansExpected !== undefined);
  const sum = (f: (r: RunMeasurement) => number) => runs.reduce((s, r) => s + f(r), 0);
  const med = (f: (r: RunMeasurement) => number) => median(runs.map(f));
  const cpu = runs.map((r) => r.cpuMsPerRequest).filter(Number.isFinite);
  const rps = runs.map((r) => r.rps).filter(Number.isFinite);
  const summary = {
    name,
    runs: runs.length,
    cpuMsPerRequest: median(cpu),
    cpuMsPerRequestMin: cpu.length ? Math.min(...cpu) : Number.NaN,
    cpuMsPerRequestMax: cpu.length ? Math.max(...cpu) : Number.NaN,
    rps: median(rps),
    rpsMin: rps.length ? Math.min(...rps) : Number.NaN,
    rpsMax: rps.length ? Math.max(...rps) : Number.NaN,
    p50: med((r) => r.latencyMs.p50),
    p99: med((r) => r.latencyMs.p99),
    serverCpuPct: med((r) => r.serverCpuPct),
    loadgenCpuPct: med((r) => r.loadgenCpuPct),
    standInCpuPct: med((r) => r.standInCpuPct),
    sinkCpuPct: med((r) => r.sinkCpuPct),
    driverCpuPct: med((r) => r.driverCpuPct),
    machineCpuPct: med((r) => r.machineCpuPct),
    othersCpuPct: med((r) => r.othersCpuPct),
    cpus: runs[0]?.cpus ?? os.cpus().length,
    errors: sum(errorsOf),
    requests: sum((r) => r.completed),
    peakRssMiB,
    ...(traced
      ? { spansExpected: sum((r) => r.spansExpected ?? 0), spansReceived: sum((r) => r.spansReceived ?? 0), spansDropped: sum((r) => r.spansDropped ?? 0) }
      : {}),
  };
  return { ...summary, saturated: saturation(summary) };
}

type CpuShares = Pick<VariantSummary, 'serverCpuPct' | 'loadgenCpuPct' | 'standInCpuPct' | 'sinkCpuPct' | 'driverCpuPct' | 'machineCpuPct' | 'othersCpuPct' | 'cpus'>;

export interface Saturation {
  /** `server`, `machine`, `load generator` or `nothing`. */
  resource: string;
  /** The CPU shares behind the verdict, for the report. */
  detail: string;
}

/**
 * Which resource limited throughput: the server's JS thread (≥ 90% of a core), the whole machine
 * (≥ 90% of all cores busy; then throughput ratios say little about server cost), the load
 * generator's core, or nothing (latency-bound: connections / latency).
 */
export function saturation(s: CpuShares): Saturation {
  const r = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : 'n/a');
  const detail =
    `machine ${r(s.machineCpuPct)}% of ${s.cpus * 100}% = server ${r(s.serverCpuPct)}% + load generator ${r(s.loadgenCpuPct)}% + ` +
    `stand-ins ${r(s.standInCpuPct + s.driverCpuPct)}% + sink ${r(s.sinkCpuPct)}% + other processes ${r(s.othersCpuPct)}%`;
  if (s.serverCpuPct >= 90) return { resource: 'server', detail };
  if (s.machineCpuPct >= 90 * s.cpus) return { resource: 'machine', detail };
  if (s.loadgenCpuPct >= 90) return { resource: 'load generator', detail };
  return { resource: 'nothing', detail };
}
