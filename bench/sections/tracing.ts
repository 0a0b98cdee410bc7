/**
 * Section "tracing": what tracing costs the service per request, 0 ms model. The service with
 * OTEL_SDK_DISABLED=true vs exporting every span to the OTLP sink (bench/otlp-sink.ts, its own
 * process), in the shared interleaved rounds. Spans per request are calibrated; dropped =
 * expected − received after the export settles. No sampling: every span is exported.
 *
 * `--baseline <git ref>` adds the same two variants built from another commit (bench/lib/harness.ts
 * prepareTree), measured in the same rounds: before/after figures from one run.
 */
import { prepareTree } from '../lib/harness.js';
import { cpuWithSpread, variantTable, VARIANT_TABLE_LEGEND, type InterleavedResult, type VariantPlan } from '../lib/interleaved.js';
import type { VariantSummary } from '../lib/measure.js';
import { fmt, fmtInt, fmtX, ratio, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

/** Targets (issue 10), set for Node 24, the Dockerfile's runtime. */
const MAX_TRACING_CPU_RATIO = 1.1;
const MAX_TRACED_CPU_MS = 1.25;

let baseline: { ref: string; dir: string; commit: string } | undefined;

function baselineTree(ref: string | undefined): typeof baseline {
  if (!ref) return undefined;
  if (!baseline || baseline.ref !== ref) baseline = { ref, ...prepareTree(ref) };
  return baseline;
}

interface Costs {
  on: VariantSummary;
  off: VariantSummary;
  cpuRatio: number;
  cpuAddedMs: number;
  rpsRatio: number;
}

function costs(on: VariantSummary, off: VariantSummary): Costs {
  return { on, off, cpuRatio: ratio(on.cpuMsPerRequest, off.cpuMsPerRequest), cpuAddedMs: on.cpuMsPerRequest - off.cpuMsPerRequest, rpsRatio: ratio(on.rps, off.rps) };
}

export const tracingSection: BenchSection = {
  name: 'tracing',
  description: 'tracing on (every span exported to an OTLP sink) vs OTEL_SDK_DISABLED, 0 ms model',
  byDefault: true,
  options: [{ name: 'baseline', kind: 'string', help: 'also measure this git ref (e.g. main) in the same rounds: before/after' }],
  variants({ options }) {
    const plans: VariantPlan[] = [
      { name: 'service-tracing-off', kind: 'service', traced: false },
      { name: 'service-tracing-on', kind: 'service', traced: true },
    ];
    const base = baselineTree(options.str('baseline'));
    if (base) {
      plans.push(
        { name: `baseline-${base.commit}-tracing-off`, kind: 'service', traced: false, tree: base.dir },
        { name: `baseline-${base.commit}-tracing-on`, kind: 'service', traced: true, tree: base.dir },
      );
    }
    return plans;
  },
  async run({ cfg, report, results, shared, options }, interleaved?: InterleavedResult) {
    if (!interleaved) throw new Error('tracing: needs the interleaved 0 ms run');
    const get = (name: string) => interleaved.variants.get(name) as VariantSummary;
    const spansPerRequest = interleaved.spansPerRequest.get('service-tracing-on') as number;
    shared.spansPerRequest = spansPerRequest;
    const now = costs(get('service-tracing-on'), get('service-tracing-off'));
    const base = baselineTree(options.str('baseline'));
    const before = base ? costs(get(`baseline-${base.commit}-tracing-on`), get(`baseline-${base.commit}-tracing-off`)) : undefined;

    report.section(
      `Tracing cost: 0 ms model, ${interleaved.connections} connections, ${interleaved.rounds} interleaved rounds x ~${interleaved.durationSec} s per variant (medians)`,
    );
    report.push(variantTable(before ? [now.off, now.on, before.off, before.on] : [now.off, now.on]), VARIANT_TABLE_LEGEND, '');
    const row = (label: string, c: Costs) => [
      label,
      `${fmt(c.on.cpuMsPerRequest, 3)} / ${fmt(c.off.cpuMsPerRequest, 3)}`,
      `${fmtX(c.cpuRatio)} (+${fmt(c.cpuAddedMs, 3)} ms)`,
      `${fmt(c.on.rps, 0)} / ${fmt(c.off.rps, 0)} (${fmtX(c.rpsRatio)})`,
      `${c.on.saturated.resource} / ${c.off.saturated.resource}`,
    ];
    report.push(
      table(
        ['tracing on / off', 'CPU ms/req', 'CPU ratio', 'req/s', 'throughput limited by'],
        [row('this tree', now), ...(before && base ? [row(`baseline ${base.ref} (${base.commit})`, before)] : [])],
      ),
      `traced: ${now.on.saturated.detail}`,
      `spans: ${fmt(spansPerRequest, 2)} per request, received ${fmtInt(now.on.spansReceived)} of ${fmtInt(now.on.spansExpected)} expected, dropped ${fmtInt(now.on.spansDropped)}`,
    );
    if (before && base) {
      report.push(
        `this tree vs ${base.ref}: traced ${fmtX(ratio(now.on.cpuMsPerRequest, before.on.cpuMsPerRequest))} CPU per request ` +
          `(${fmt(before.on.cpuMsPerRequest, 3)} → ${fmt(now.on.cpuMsPerRequest, 3)} ms), untraced ${fmtX(ratio(now.off.cpuMsPerRequest, before.off.cpuMsPerRequest))} ` +
          `(${fmt(before.off.cpuMsPerRequest, 3)} → ${fmt(now.off.cpuMsPerRequest, 3)} ms)`,
      );
    }

    const node24 = cfg.serverNodeVersion.startsWith('24.');
    const goalNote = node24 ? '' : ` (target set for Node 24; servers here on Node ${cfg.serverNodeVersion})`;
    const ratioOk = now.cpuRatio <= MAX_TRACING_CPU_RATIO;
    const absOk = now.on.cpuMsPerRequest <= MAX_TRACED_CPU_MS;
    report.check(
      `tracing adds <= ${Math.round((MAX_TRACING_CPU_RATIO - 1) * 100)}% CPU per request${goalNote}`,
      ratioOk,
      `${fmtX(now.cpuRatio)} (${fmt(now.on.cpuMsPerRequest, 3)} vs ${fmt(now.off.cpuMsPerRequest, 3)} ms); throughput ${fmtX(now.rpsRatio)}, limited by ${now.on.saturated.resource}`,
    );
    report.check(
      `CPU per request with tracing <= ${MAX_TRACED_CPU_MS} ms${goalNote}`,
      absOk,
      `${cpuWithSpread(now.on)} ms => at most ~${fmt(1000 / now.on.cpuMsPerRequest, 0)} req/s per fully busy process`,
    );
    report.check(
      'tracing: no span dropped',
      (now.on.spansDropped ?? 0) === 0,
      `${fmtInt(now.on.spansDropped)} of ${fmtInt(now.on.spansExpected)} (${fmt(((now.on.spansDropped ?? 0) / Math.max(1, now.on.spansExpected ?? 1)) * 100, 2)}%)`,
    );
    report.summary({ figure: 'CPU per request, tracing on (0 ms model; rounds min–max)', value: `${cpuWithSpread(now.on)} ms`, target: `≤ ${MAX_TRACED_CPU_MS} ms on Node 24`, met: node24 ? absOk : undefined });
    report.summary({ figure: 'CPU per request, tracing off (OTEL_SDK_DISABLED)', value: `${cpuWithSpread(now.off)} ms` });
    report.summary({
      figure: 'tracing cost: CPU per request on ÷ off',
      value: `${fmtX(now.cpuRatio)} (+${fmt(now.cpuAddedMs, 3)} ms)`,
      target: `≤ ${MAX_TRACING_CPU_RATIO.toFixed(2)}x on Node 24`,
      met: node24 ? ratioOk : undefined,
    });
    report.summary({
      figure: 'throughput on / off (limited by)',
      value: `${fmt(now.on.rps, 0)} / ${fmt(now.off.rps, 0)} req/s (${fmtX(now.rpsRatio)}; ${now.on.saturated.resource} / ${now.off.saturated.resource})`,
    });
    report.summary({ figure: 'spans per request; dropped', value: `${fmt(spansPerRequest, 0)}; ${fmtInt(now.on.spansDropped)} of ${fmtInt(now.on.spansExpected)}`, target: '0 dropped', met: (now.on.spansDropped ?? 0) === 0 });
    if (before && base) {
      report.summary({
        figure: `before (${base.ref}, ${base.commit}): CPU per request on / off, ratio`,
        value: `${fmt(before.on.cpuMsPerRequest, 3)} / ${fmt(before.off.cpuMsPerRequest, 3)} ms, ${fmtX(before.cpuRatio)}`,
      });
    }
    results.tracing = {
      spansPerRequest,
      now: { cpuRatio: now.cpuRatio, cpuAddedMs: now.cpuAddedMs, rpsRatio: now.rpsRatio, on: now.on, off: now.off },
      ...(before && base ? { baseline: { ref: base.ref, commit: base.commit, cpuRatio: before.cpuRatio, cpuAddedMs: before.cpuAddedMs, rpsRatio: before.rpsRatio, on: before.on, off: before.off } } : {}),
    };
  },
};
