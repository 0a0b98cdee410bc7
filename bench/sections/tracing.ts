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
 * `--baseline <git ref>` adds both pairs built from another commit (bench/lib/harness.ts
 * prepareTree), measured in the same rounds: before/after figures from one run.
 */
import { prepareTree } from '../lib/harness.js';
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
  /** Variant name prefix: `<prefix>-tracing-on` / `-off`. */
  prefix: string;
  label: string;
  env?: Record<string, string>;
}
const ALONE: Pair = { prefix: 'tracing-alone', label: 'tracing alone (no scores, no metrics)', env: TRACING_ALONE_ENV };
const DEPLOYED: Pair = { prefix: 'service', label: 'as deployed (+ metrics, + 2 scores per run)' };

let baseline: { ref: string; dir: string; commit: string } | undefined;

function baselineTree(ref: string | undefined): typeof baseline {
  if (!ref) return undefined;
  if (!baseline || baseline.ref !== ref) baseline = { ref, ...prepareTree(ref) };
  return baseline;
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
  options: [{ name: 'baseline', kind: 'string', help: 'also measure this git ref (e.g. main) in the same rounds: before/after' }],
  variants({ options }) {
    const plans = [...pairPlans(DEPLOYED, DEPLOYED.prefix), ...pairPlans(ALONE, ALONE.prefix)];
    const base = baselineTree(options.str('baseline'));
    if (base) for (const pair of [DEPLOYED, ALONE]) plans.push(...pairPlans(pair, `baseline-${base.commit}-${pair.prefix}`, base.dir));
    return plans;
  },
  async run({ cfg, report, results, shared, options }, interleaved?: InterleavedResult) {
    if (!interleaved) throw new Error('tracing: needs the interleaved 0 ms run');
    const spansPerRequest = interleaved.spansPerRequest.get('service-tracing-on') as number;
    shared.spansPerRequest = spansPerRequest;
    const alone = costs(ALONE.label, interleaved, ALONE.prefix);
    const deployed = costs(DEPLOYED.label, interleaved, DEPLOYED.prefix);
    const base = baselineTree(options.str('baseline'));
    const before = base
      ? { alone: costs(`${base.ref}: ${ALONE.label}`, interleaved, `baseline-${base.commit}-${ALONE.prefix}`), deployed: costs(`${base.ref}: ${DEPLOYED.label}`, interleaved, `baseline-${base.commit}-${DEPLOYED.prefix}`) }
      : undefined;
    const all = [alone, deployed, ...(before ? [before.alone, before.deployed] : [])];

    report.section(
      `Tracing cost: 0 ms model, ${interleaved.connections} connections, ${interleaved.rounds} interleaved rounds x ~${interleaved.durationSec} s per variant (medians)`,
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
      `metrics and the two automatic scores per answered run (sent only with a trace), over tracing alone: +${fmt(deployed.cpuAddedMs - alone.cpuAddedMs, 3)} ms CPU per request`,
      `traced (as deployed): ${deployed.on.saturated.detail}`,
      `spans: ${fmt(spansPerRequest, 2)} per request, received ${fmtInt(deployed.on.spansReceived)} of ${fmtInt(deployed.on.spansExpected)} expected, dropped ${fmtInt(deployed.on.spansDropped)}`,
    );
    if (before && base) {
      const vs = (now: VariantSummary, then: VariantSummary) => {
        const p = pairedCpuRatio(interleaved, now.name, then.name);
        return `${fmt(then.cpuMsPerRequest, 3)} → ${fmt(now.cpuMsPerRequest, 3)} ms, per round ${fmtX(p.median)} (${fmt(p.min, 2)}–${fmt(p.max, 2)})`;
      };
      report.push(
        `this tree vs ${base.ref} (${base.commit}), CPU per request: tracing alone on ${vs(alone.on, before.alone.on)}; off ${vs(alone.off, before.alone.off)}; ` +
          `as deployed on ${vs(deployed.on, before.deployed.on)}; off ${vs(deployed.off, before.deployed.off)}`,
      );
    }

    const node24 = cfg.serverNodeVersion.startsWith('24.');
    const goalNote = node24 ? '' : ` (target set for Node 24; servers here on Node ${cfg.serverNodeVersion})`;
    const pct = Math.round((MAX_TRACING_CPU_RATIO - 1) * 100);
    for (const c of [alone, deployed]) {
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
    const dropped = (deployed.on.spansDropped ?? 0) + (alone.on.spansDropped ?? 0);
    const expected = (deployed.on.spansExpected ?? 0) + (alone.on.spansExpected ?? 0);
    report.check('tracing: no span dropped', dropped === 0, `${fmtInt(dropped)} of ${fmtInt(expected)}`);

    const met = (ok: boolean) => (node24 ? ok : undefined);
    report.summary({ figure: 'CPU per request, tracing on, as deployed (Langfuse prompts; rounds min–max)', value: `${cpuWithSpread(deployed.on)} ms`, target: `≤ ${MAX_TRACED_CPU_MS} ms on Node 24`, met: met(deployed.on.cpuMsPerRequest <= MAX_TRACED_CPU_MS) });
    report.summary({ figure: 'CPU per request, tracing off (OTEL_SDK_DISABLED)', value: `${cpuWithSpread(deployed.off)} ms` });
    report.summary({
      figure: 'tracing alone (spans + export; no scores, no metrics): CPU on ÷ off per round',
      value: `${ratioWithSpread(alone)} (${fmt(alone.on.cpuMsPerRequest, 3)} vs ${fmt(alone.off.cpuMsPerRequest, 3)} ms)`,
      target: `≤ ${MAX_TRACING_CPU_RATIO.toFixed(2)}x on Node 24`,
      met: met(alone.cpuRatio <= MAX_TRACING_CPU_RATIO),
    });
    report.summary({
      figure: 'as deployed: CPU on ÷ off per round (tracing + metrics + the 2 scores a trace enables)',
      value: `${ratioWithSpread(deployed)} (+${fmt(deployed.cpuAddedMs, 3)} ms)`,
      target: `≤ ${MAX_TRACING_CPU_RATIO.toFixed(2)}x on Node 24`,
      met: met(deployed.cpuRatio <= MAX_TRACING_CPU_RATIO),
    });
    report.summary({
      figure: 'throughput on / off, as deployed (limited by)',
      value: `${fmt(deployed.on.rps, 0)} / ${fmt(deployed.off.rps, 0)} req/s (${fmtX(deployed.rpsRatio)}; ${deployed.on.saturated.resource} / ${deployed.off.saturated.resource})`,
    });
    report.summary({ figure: 'spans per request; dropped', value: `${fmt(spansPerRequest, 0)}; ${fmtInt(dropped)} of ${fmtInt(expected)}`, target: '0 dropped', met: dropped === 0 });
    if (before && base) {
      for (const c of [before.alone, before.deployed]) {
        report.summary({ figure: `before: ${c.label}, CPU on / off, ratio`, value: `${fmt(c.on.cpuMsPerRequest, 3)} / ${fmt(c.off.cpuMsPerRequest, 3)} ms, ${ratioWithSpread(c)}` });
      }
    }
    results.tracing = {
      spansPerRequest,
      alone: json(alone),
      deployed: json(deployed),
      ...(before && base ? { baseline: { ref: base.ref, commit: base.commit, alone: json(before.alone), deployed: json(before.deployed) } } : {}),
    };
  },
};
