/**
 * Section "tracing": what tracing costs the service per request, 0 ms model, in the shared
 * interleaved rounds. Each pair is the service with OTEL_SDK_DISABLED=true vs exporting every
 * span to the OTLP sink (bench/otlp-sink.ts, its own process); spans per request are calibrated,
 * dropped = expected − received after the export settles. No sampling.
 *
 * Two pairs, because OTEL_SDK_DISABLED also turns the metrics off (SPEC §13), and with Langfuse
 * prompt management turning tracing on also turns on the two automatic scores per answered run
 * (SPEC §9: they are attached to the run's trace, so without a trace there are none), each an
 * HTTP request to Langfuse:
 *  - "tracing alone": the local prompt file (no Langfuse keys: no scores) and OTEL_METRICS_EXPORTER
 *    =none, on or off; the same spans and attributes less the generation's prompt link (SPEC §3);
 *  - "as deployed": Langfuse prompts and metrics on: tracing on = spans + export + metrics + scores.
 *
 * `--baseline <git ref>` adds the same pairs built from another commit (bench/lib/harness.ts
 * prepareTree), measured in the same rounds: before/after figures from one run.
 */
import { baselineTree } from '../lib/harness.js';
import { cpuWithSpread, pairedCpuRatio, variantTable, VARIANT_TABLE_LEGEND, type InterleavedResult, type VariantPlan } from '../lib/interleaved.js';
import type { VariantSummary } from '../lib/measure.js';
import { fmt, fmtInt, fmtX, ratio, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

/** Targets (issue 10), set for Node 24, the Dockerfile's runtime. */
const MAX_TRACING_CPU_RATIO = 1.1;
const MAX_TRACED_CPU_MS = 1.25;

/** Local prompt file and no Langfuse keys (no scores are sent, SPEC §9), metrics off: tracing alone. */
const TRACING_ALONE_ENV = { PROMPT_SOURCE: 'local', LANGFUSE_PUBLIC_KEY: '', LANGFUSE_SECRET_KEY: '', OTEL_METRICS_EXPORTER: 'none' };

interface Pair {
  /** `--tracing-pairs` value, and the variant name prefix: `<prefix>-tracing-on` / `-off`. */
  prefix: string;
  label: string;
  env?: Record<string, string>;
}
const ALONE: Pair = { prefix: 'tracing-alone', label: 'tracing alone (no scores, no metrics)', env: TRACING_ALONE_ENV };
const DEPLOYED: Pair = { prefix: 'service', label: 'as deployed (+ metrics, + 2 scores per run)' };

function selectedPairs(value: string | undefined): Pair[] {
  if (value === 'both') return [ALONE, DEPLOYED];
  if (value === 'alone') return [ALONE];
  if (value === 'deployed') return [DEPLOYED];
  throw new Error('--tracing-pairs takes alone, deployed or both');
}

const pairPlans = (pair: Pair, namePrefix: string, tree?: string): VariantPlan[] =>
  [false, true].map((traced) => ({
    name: `${namePrefix}-tracing-${traced ? 'on' : 'off'}`,
    kind: 'service' as const,
    traced,
    ...(pair.env ? { env: pair.env } : {}),
    ...(tree ? { tree } : {}),
  }));

interface Costs {
  label: string;
  on: VariantSummary;
  off: VariantSummary;
  /** Median of the per-round ratios on ÷ off (see pairedCpuRatio), with their spread. */
  cpuRatio: number;
  cpuRatioMin: number;
  cpuRatioMax: number;
  cpuAddedMs: number;
  rpsRatio: number;
}

function costs(label: string, interleaved: InterleavedResult, namePrefix: string): Costs {
  const on = interleaved.variants.get(`${namePrefix}-tracing-on`) as VariantSummary;
  const off = interleaved.variants.get(`${namePrefix}-tracing-off`) as VariantSummary;
  const paired = pairedCpuRatio(interleaved, on.name, off.name);
  return {
    label,
    on,
    off,
    cpuRatio: paired.median,
    cpuRatioMin: paired.min,
    cpuRatioMax: paired.max,
    cpuAddedMs: on.cpuMsPerRequest - off.cpuMsPerRequest,
    rpsRatio: ratio(on.rps, off.rps),
  };
}

const ratioWithSpread = (c: Costs) => `${fmtX(c.cpuRatio)} (${fmt(c.cpuRatioMin, 2)}–${fmt(c.cpuRatioMax, 2)})`;

const json = (c: Costs) => ({ cpuRatio: c.cpuRatio, cpuRatioMin: c.cpuRatioMin, cpuRatioMax: c.cpuRatioMax, cpuAddedMs: c.cpuAddedMs, rpsRatio: c.rpsRatio, on: c.on, off: c.off });

export const tracingSection: BenchSection = {
  name: 'tracing',
  description: 'tracing on (every span exported to an OTLP sink) vs OTEL_SDK_DISABLED, 0 ms model',
  byDefault: true,
  options: [
    { name: 'tracing-pairs', kind: 'string', full: 'both', help: 'alone (no scores, no metrics), deployed (Langfuse prompts, metrics) or both' },
  ],
  variants({ options }) {
    const pairs = selectedPairs(options.str('tracing-pairs'));
    const plans: VariantPlan[] = [];
    for (const pair of pairs) plans.push(...pairPlans(pair, pair.prefix));
    const base = baselineTree();
    if (base) for (const pair of pairs) plans.push(...pairPlans(pair, `baseline-${base.commit}-${pair.prefix}`, base.dir));
    return plans;
  },
  async run({ cfg, report, results, shared, options }, interleaved?: InterleavedResult) {
    if (!interleaved) throw new Error('tracing: needs the interleaved 0 ms run');
    const pairs = selectedPairs(options.str('tracing-pairs'));
    // the same spans in both pairs; the soak and the concurrency section reuse the count
    const spansPerRequest = interleaved.spansPerRequest.get(`${(pairs[pairs.length - 1] as Pair).prefix}-tracing-on`) as number;
    shared.spansPerRequest = spansPerRequest;
    const now = pairs.map((pair) => costs(pair.label, interleaved, pair.prefix));
    const base = baselineTree();
    const before = base ? pairs.map((pair) => costs(`${base.ref}: ${pair.label}`, interleaved, `baseline-${base.commit}-${pair.prefix}`)) : [];
    const all = [...now, ...before];
    const alone = pairs.includes(ALONE) ? now[pairs.indexOf(ALONE)] : undefined;
    const deployed = pairs.includes(DEPLOYED) ? now[pairs.indexOf(DEPLOYED)] : undefined;

    report.section(
      `Tracing cost: 0 ms model, ${interleaved.connections} connections, ${interleaved.rounds} interleaved rounds x ~${interleaved.durationSec} s per variant` +
        `${interleaved.replicas > 1 ? ` x ${interleaved.replicas} processes` : ''} (medians)`,
    );
    report.push(
      variantTable(all.flatMap((c) => [c.off, c.on])),
      VARIANT_TABLE_LEGEND,
      '',
      table(
        ['tracing on / off', 'CPU ms/req (medians)', 'added', 'CPU ratio per round: median (min–max)', 'req/s', 'throughput limited by'],
        all.map((c) => [
          c.label,
          `${fmt(c.on.cpuMsPerRequest, 3)} / ${fmt(c.off.cpuMsPerRequest, 3)}`,
          `+${fmt(c.cpuAddedMs, 3)} ms`,
          ratioWithSpread(c),
          `${fmt(c.on.rps, 0)} / ${fmt(c.off.rps, 0)} (${fmtX(c.rpsRatio)})`,
          `${c.on.saturated.resource} / ${c.off.saturated.resource}`,
        ]),
      ),
    );
    if (alone && deployed) {
      report.push(`metrics and the two automatic scores per answered run (sent only with a trace), over tracing alone: +${fmt(deployed.cpuAddedMs - alone.cpuAddedMs, 3)} ms CPU per request`);
    }
    const traced = (deployed ?? alone) as Costs;
    report.push(
      `traced (${traced.label}): ${traced.on.saturated.detail}`,
      `spans: ${fmt(spansPerRequest, 2)} per request, received ${fmtInt(traced.on.spansReceived)} of ${fmtInt(traced.on.spansExpected)} expected, dropped ${fmtInt(traced.on.spansDropped)}`,
    );
    if (base) {
      const vs = (a: VariantSummary, b: VariantSummary) => {
        const p = pairedCpuRatio(interleaved, a.name, b.name);
        return `${fmt(b.cpuMsPerRequest, 3)} → ${fmt(a.cpuMsPerRequest, 3)} ms, per round ${fmtX(p.median)} (${fmt(p.min, 2)}–${fmt(p.max, 2)})`;
      };
      report.push(
        `this tree vs ${base.ref} (${base.commit}), CPU per request: ` +
          now.map((c, k) => `${pairs[k]?.label}: on ${vs(c.on, (before[k] as Costs).on)}; off ${vs(c.off, (before[k] as Costs).off)}`).join('; '),
      );
    }

    const node24 = cfg.serverNodeVersion.startsWith('24.');
    const goalNote = node24 ? '' : ` (target set for Node 24; servers here on Node ${cfg.serverNodeVersion})`;
    const pct = Math.round((MAX_TRACING_CPU_RATIO - 1) * 100);
    for (const c of now) {
      report.check(
        `${c.label}: tracing adds <= ${pct}% CPU per request${goalNote}`,
        c.cpuRatio <= MAX_TRACING_CPU_RATIO,
        `${ratioWithSpread(c)} per round (medians ${fmt(c.on.cpuMsPerRequest, 3)} vs ${fmt(c.off.cpuMsPerRequest, 3)} ms); throughput ${fmtX(c.rpsRatio)}, limited by ${c.on.saturated.resource}`,
      );
      report.check(
        `${c.label}: CPU per request with tracing <= ${MAX_TRACED_CPU_MS} ms${goalNote}`,
        c.on.cpuMsPerRequest <= MAX_TRACED_CPU_MS,
        `${cpuWithSpread(c.on)} ms => at most ~${fmt(1000 / c.on.cpuMsPerRequest, 0)} req/s per fully busy process`,
      );
    }
    const dropped = now.reduce((n, c) => n + (c.on.spansDropped ?? 0), 0);
    const expected = now.reduce((n, c) => n + (c.on.spansExpected ?? 0), 0);
    report.check('tracing: no span dropped', dropped === 0, `${fmtInt(dropped)} of ${fmtInt(expected)}`);

    const met = (ok: boolean) => (node24 ? ok : undefined);
    for (const c of now) {
      report.summary({ figure: `${c.label}: CPU per request on / off (rounds min–max)`, value: `${cpuWithSpread(c.on, 2)} / ${cpuWithSpread(c.off, 2)} ms`, target: `on ≤ ${MAX_TRACED_CPU_MS} ms on Node 24`, met: met(c.on.cpuMsPerRequest <= MAX_TRACED_CPU_MS) });
      report.summary({ figure: `${c.label}: CPU on ÷ off, per round`, value: ratioWithSpread(c), target: `≤ ${MAX_TRACING_CPU_RATIO.toFixed(2)}x on Node 24`, met: met(c.cpuRatio <= MAX_TRACING_CPU_RATIO) });
    }
    report.summary({
      figure: `throughput on / off, ${traced.label} (limited by)`,
      value: `${fmt(traced.on.rps, 0)} / ${fmt(traced.off.rps, 0)} req/s (${fmtX(traced.rpsRatio)}; ${traced.on.saturated.resource} / ${traced.off.saturated.resource})`,
    });
    report.summary({ figure: 'spans per request; dropped', value: `${fmt(spansPerRequest, 0)}; ${fmtInt(dropped)} of ${fmtInt(expected)}`, target: '0 dropped', met: dropped === 0 });
    for (const c of before) {
      report.summary({ figure: `before, ${c.label}: CPU on / off, ratio per round`, value: `${fmt(c.on.cpuMsPerRequest, 2)} / ${fmt(c.off.cpuMsPerRequest, 2)} ms, ${ratioWithSpread(c)}` });
    }
    results.tracing = {
      spansPerRequest,
      ...Object.fromEntries(now.map((c, k) => [pairs[k]?.prefix, json(c)])),
      ...(base ? { baseline: { ref: base.ref, commit: base.commit, ...Object.fromEntries(before.map((c, k) => [pairs[k]?.prefix, json(c)])) } } : {}),
    };
  },
};
