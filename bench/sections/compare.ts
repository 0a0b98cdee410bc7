/**
 * Section "compare" (`--compare a,b`): extra variants measured in the same interleaved 0 ms rounds,
 * for A/B tests of a lever, reported next to the service with tracing (not in the targets).
 */
import { variantTable, VARIANT_TABLE_LEGEND, type InterleavedResult, type VariantPlan } from '../lib/interleaved.js';
import type { VariantSummary } from '../lib/measure.js';
import { fmt, fmtX, ratio, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

const VARIANTS: Record<string, { help: string; plans: VariantPlan[] }> = {
  // the straightforward build: one node per step, global fetch, a LangSmith RunTree per step
  stock: { help: 'the bare graph built straightforwardly', plans: [{ name: 'bare-langgraph-stock', kind: 'bare-langgraph', traced: false, env: { BARE_STOCK: '1' } }] },
  // one LangGraph node per step (5 per run instead of 2), for the baseline and the service alike
  'per-step-graph': {
    help: 'GRAPH_LAYOUT=per-step, bare graph and service',
    plans: [
      { name: 'bare-langgraph-per-step', kind: 'bare-langgraph', traced: false, env: { GRAPH_LAYOUT: 'per-step' } },
      { name: 'service-tracing-on-per-step', kind: 'service', traced: true, env: { GRAPH_LAYOUT: 'per-step' } },
    ],
  },
  // SDK on, every span non-recording: the instrumentation plumbing without span data or export
  'sampler-off': {
    help: 'SDK on with OTEL_TRACES_SAMPLER=always_off',
    plans: [{ name: 'service-sampler-off', kind: 'service', traced: false, env: { OTEL_SDK_DISABLED: 'false', OTEL_TRACES_SAMPLER: 'always_off' } }],
  },
  // OTLP/JSON instead of the default protobuf encoding
  'otlp-json': {
    help: 'tracing on, exporting OTLP/JSON (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json)',
    plans: [{ name: 'service-tracing-on-json', kind: 'service', traced: true, env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' } }],
  },
  // a larger V8 young generation (fewer scavenges, less premature promotion)
  'semi-space-32': { help: 'tracing on with --max-semi-space-size=32', plans: [{ name: 'service-tracing-on-semi32', kind: 'service', traced: true, flags: ['--max-semi-space-size=32'] }] },
};

/** The reference every extra variant is compared with. */
const REFERENCE: VariantPlan = { name: 'service-tracing-on', kind: 'service', traced: true };

function chosen(list: readonly string[]): VariantPlan[] {
  for (const name of list) if (!(name in VARIANTS)) throw new Error(`--compare: unknown variant ${name} (one of ${Object.keys(VARIANTS).join(', ')})`);
  return list.flatMap((name) => VARIANTS[name]?.plans ?? []);
}

export const compareSection: BenchSection = {
  name: 'compare',
  description: 'extra variants (--compare) in the same interleaved rounds, next to the service with tracing',
  byDefault: false,
  options: [{ name: 'compare', kind: 'string', help: `extra variants: ${Object.entries(VARIANTS).map(([k, v]) => `${k} (${v.help})`).join('; ')}` }],
  variants: ({ options }) => [REFERENCE, ...chosen(options.list('compare'))],
  async run({ options, report, results }, interleaved?: InterleavedResult) {
    if (!interleaved) throw new Error('compare: needs the interleaved 0 ms run');
    const plans = chosen(options.list('compare'));
    if (plans.length === 0) return;
    const ref = interleaved.variants.get(REFERENCE.name) as VariantSummary;
    const extra = plans.map((p) => interleaved.variants.get(p.name) as VariantSummary);
    report.section(`Compared variants (--compare ${options.list('compare').join(',')}), same interleaved rounds`);
    report.push(
      variantTable([ref, ...extra]),
      VARIANT_TABLE_LEGEND,
      '',
      table(
        ['variant ÷ service-tracing-on', 'CPU/req', 'req/s', 'limited by'],
        extra.map((s) => [s.name, fmtX(ratio(s.cpuMsPerRequest, ref.cpuMsPerRequest)), fmtX(ratio(s.rps, ref.rps)), `${s.saturated.resource} (${fmt(s.serverCpuPct, 0)}% server)`]),
      ),
    );
    results.compare = { reference: ref, variants: extra };
  },
};
