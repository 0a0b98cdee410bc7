/**
 * The shared 0 ms-model run: every variant the selected sections ask for (overhead, tracing, …)
 * is up at once and measured in interleaved rounds, the order rotated every round so drift
 * (thermal, other tenants of a shared machine) spreads over all variants; medians reported.
 *
 * Each measured run sends a fixed NUMBER of requests sized from the variant's previous rate
 * (≈ `--duration` seconds), so every request sent completes: CPU per request and expected span
 * counts are exact (a duration-bounded run would abandon the requests in flight when it stops).
 */
import type { LoadSpec } from '../load-generator.js';
import { BODIES, calibrateSpansPerRequest, loadgen, startServer, stopServers, type CommonConfig, type Kind, type Server } from './harness.js';
import { errorsOf, measure, summarise, type RunMeasurement, type VariantSummary } from './measure.js';
import { sleep, statusMiB } from './proc.js';
import { log } from './report.js';
import { fmt, fmtInt, median, table } from './stats.js';

/** One server configuration to measure. Sections asking for the same `name` share one server. */
export interface VariantPlan {
  name: string;
  kind: Kind;
  traced: boolean;
  env?: Record<string, string>;
  /** Extra node flags for this server. */
  flags?: string[];
  /** Source tree (default: this checkout). */
  tree?: string;
}

export interface InterleavedResult {
  connections: number;
  rounds: number;
  durationSec: number;
  /** Server processes per variant. */
  replicas: number;
  variants: Map<string, VariantSummary>;
  runs: Map<string, RunMeasurement[]>;
  /** Spans one request produces, per traced variant (calibrated on 20 sequential requests). */
  spansPerRequest: Map<string, number>;
}

/** Server `i` (from 0) of a variant: its own process; replicas after the first are `name#2`, `name#3`… */
const replicaName = (name: string, i: number) => (i === 0 ? name : `${name}#${i + 1}`);

/**
 * Every variant as `replicas` server processes, each measured once per round. Identical processes
 * differ by up to ~10% in CPU per request, steadily (seen here: JIT and heap layout), which is the
 * size of the effects measured; a variant's figures pool its replicas' runs.
 */
export async function runInterleaved(plans: readonly VariantPlan[], cfg: CommonConfig, replicas = 1): Promise<InterleavedResult> {
  log(`0 ms model: starting ${plans.map((p) => p.name).join(', ')}${replicas > 1 ? `, ${replicas} processes each` : ''}`);
  const planOf = new Map<string, VariantPlan>();
  const servers: Server[] = await Promise.all(
    plans.flatMap((p) =>
      Array.from({ length: replicas }, (_, i) => {
        planOf.set(replicaName(p.name, i), p);
        return startServer(replicaName(p.name, i), p.kind, 0, p.traced, p.env ?? {}, p.flags ?? [], p.tree);
      }),
    ),
  );
  const spansPerRequest = new Map<string, number>();
  for (const plan of plans.filter((p) => p.traced)) {
    const server = servers.find((s) => s.name === plan.name) as Server;
    spansPerRequest.set(plan.name, await calibrateSpansPerRequest(server));
    log(`0 ms model: ${plan.name}: ${fmt(spansPerRequest.get(plan.name), 2)} spans per request (20 sequential requests)`);
  }

  const rpsEstimate = new Map<string, number>();
  const spec = (server: Server): LoadSpec => ({
    url: server.url,
    connections: cfg.connections,
    amount: Math.max(cfg.connections * 4, Math.round((rpsEstimate.get(server.name) ?? 100) * cfg.durationSec)),
    timeoutSec: 10,
    bodies: BODIES,
  });
  for (const server of servers) {
    log(`0 ms model: warm-up ${server.name} (${cfg.warmupSec} s)`);
    const warm = await loadgen().run({ url: server.url, connections: cfg.connections, durationSec: cfg.warmupSec, timeoutSec: 10, bodies: BODIES });
    rpsEstimate.set(server.name, warm.rps);
    await sleep(server.traced ? 1_500 : 300);
  }

  const runs = new Map<string, RunMeasurement[]>(servers.map((s) => [s.name, []]));
  const width = Math.max(...servers.map((s) => s.name.length));
  for (let round = 0; round < cfg.rounds; round += 1) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length] as Server);
    for (const server of order) {
      const plan = planOf.get(server.name) as VariantPlan;
      const m = await measure(server, spec(server), round, spansPerRequest.get(plan.name));
      runs.get(server.name)?.push(m);
      rpsEstimate.set(server.name, median((runs.get(server.name) ?? []).map((r) => r.rps)));
      log(
        `  round ${round + 1}/${cfg.rounds} ${server.name.padEnd(width)}  ${fmt(m.cpuMsPerRequest, 3)} ms CPU/req  ${fmt(m.rps, 0).padStart(5)} req/s  ` +
          `p50 ${fmt(m.latencyMs.p50, 2)} ms  p99 ${fmt(m.latencyMs.p99, 2)} ms  server ${fmt(m.serverCpuPct, 0)}%  machine ${fmt(m.machineCpuPct, 0)}% ` +
          `(others ${fmt(m.othersCpuPct, 0)}%)  errors ${errorsOf(m)}${m.spansDropped !== undefined ? `  spans dropped ${m.spansDropped}` : ''}`,
      );
    }
  }
  // a variant's runs: every replica's, pooled
  const variants = new Map<string, VariantSummary>();
  const pooled = new Map<string, RunMeasurement[]>();
  for (const plan of plans) {
    const mine = servers.filter((s) => planOf.get(s.name) === plan);
    const planRuns = mine.flatMap((s) => runs.get(s.name) ?? []);
    pooled.set(plan.name, planRuns);
    variants.set(plan.name, summarise(plan.name, planRuns, Math.max(...mine.map((s) => statusMiB(s.proc.pid, 'VmHWM')))));
  }
  await stopServers(servers);
  return { connections: cfg.connections, rounds: cfg.rounds, durationSec: cfg.durationSec, replicas, variants, runs: pooled, spansPerRequest };
}

/**
 * CPU per request of `a` ÷ `b`, round by round (the two ran minutes apart at most, under the same
 * contention), then the median and spread of those ratios: steadier than a ratio of medians when
 * other tenants come and go.
 */
export function pairedCpuRatio(result: InterleavedResult, a: string, b: string): { median: number; min: number; max: number; perRound: number[] } {
  // per round, the median over each variant's replicas
  const byRound = (name: string) => {
    const rounds = new Map<number, number[]>();
    for (const r of result.runs.get(name) ?? []) rounds.set(r.round, [...(rounds.get(r.round) ?? []), r.cpuMsPerRequest]);
    return new Map([...rounds].map(([round, values]) => [round, median(values)]));
  };
  const roundsA = byRound(a);
  const roundsB = byRound(b);
  const perRound = [...roundsA].map(([round, cpu]) => cpu / (roundsB.get(round) ?? Number.NaN)).filter(Number.isFinite);
  return { median: median(perRound), min: perRound.length ? Math.min(...perRound) : Number.NaN, max: perRound.length ? Math.max(...perRound) : Number.NaN, perRound };
}

/** `1.234 (1.20–1.31)`: median with the spread over rounds. */
export function cpuWithSpread(s: VariantSummary, digits = 3): string {
  return `${fmt(s.cpuMsPerRequest, digits)} (${fmt(s.cpuMsPerRequestMin, digits)}–${fmt(s.cpuMsPerRequestMax, digits)})`;
}

/** The standard per-variant table: CPU per request first, throughput and what limited it alongside. */
export function variantTable(summaries: readonly VariantSummary[]): string {
  return table(
    ['variant', 'CPU ms/req (min–max)', 'req/s', 'p50 ms', 'p99 ms', 'server %', 'loadgen %', 'stand-ins %', 'sink %', 'others %', 'limited by', 'RSS MiB', 'errors', 'spans dropped'],
    summaries.map((s) => [
      s.name,
      cpuWithSpread(s),
      fmt(s.rps, 0),
      fmt(s.p50, 2),
      fmt(s.p99, 2),
      fmt(s.serverCpuPct, 0),
      fmt(s.loadgenCpuPct, 0),
      fmt(s.standInCpuPct + s.driverCpuPct, 0),
      fmt(s.sinkCpuPct, 0),
      fmt(s.othersCpuPct, 0),
      s.saturated.resource,
      fmt(s.peakRssMiB, 0),
      fmtInt(s.errors),
      s.spansDropped === undefined ? '-' : `${fmtInt(s.spansDropped)}/${fmtInt(s.spansExpected)}`,
    ]),
  );
}

/** Column legend printed under a variant table. */
export const VARIANT_TABLE_LEGEND =
  'CPU ms/req = server process utime+stime / requests (median of rounds; min–max over rounds). "%" columns = CPU of that process ' +
  'during the load, 100 = one core; "others" = the rest of the machine (other tenants). "limited by": server = its JS thread ≥ 90% of a core; ' +
  'machine = ≥ 90% of all cores busy (throughput then says little about server cost); nothing = latency-bound.';
