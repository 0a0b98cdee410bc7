/**
 * Section "overhead" (0 ms model): what the service costs per request over (a) a bare Fastify
 * route returning the same JSON shape and (b) a bare compiled LangGraph graph of the same steps,
 * state channels, routing and model client (bench/bare-langgraph-server.ts). Measured in the shared
 * interleaved rounds; the headline is the server's CPU per request, throughput alongside.
 */
import type { VariantSummary } from '../lib/measure.js';
import { cpuWithSpread, variantTable, VARIANT_TABLE_LEGEND, type InterleavedResult } from '../lib/interleaved.js';
import { fmt, fmtX, ratio, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

/** Service CPU per request at most this multiple of the bare graph's (= ≥ 0.75x its throughput on a dedicated core). */
const MAX_CPU_RATIO_VS_BARE_LANGGRAPH = 1.33;

export const overheadSection: BenchSection = {
  name: 'overhead',
  description: 'service (tracing on) vs a bare Fastify route and a bare LangGraph graph, 0 ms model',
  byDefault: true,
  variants: () => [
    { name: 'bare-fastify', kind: 'bare-fastify', traced: false },
    { name: 'bare-langgraph', kind: 'bare-langgraph', traced: false },
    { name: 'service-tracing-on', kind: 'service', traced: true },
  ],
  async run({ report, results }, interleaved?: InterleavedResult) {
    if (!interleaved) throw new Error('overhead: needs the interleaved 0 ms run');
    const get = (name: string) => interleaved.variants.get(name) as VariantSummary;
    const svc = get('service-tracing-on');
    const bf = get('bare-fastify');
    const bl = get('bare-langgraph');
    const vs = (base: VariantSummary) => ({
      cpuPerRequest: ratio(svc.cpuMsPerRequest, base.cpuMsPerRequest),
      rps: ratio(svc.rps, base.rps),
      p50: ratio(svc.p50, base.p50),
      p99: ratio(svc.p99, base.p99),
    });
    const ratios = { vsBareFastify: vs(bf), vsBareLangGraph: vs(bl) };
    report.section(
      `Overhead: 0 ms model, ${interleaved.connections} connections, ${interleaved.rounds} interleaved rounds x ~${interleaved.durationSec} s per variant (medians)`,
    );
    report.push(
      variantTable([bf, bl, svc]),
      VARIANT_TABLE_LEGEND,
      '',
      table(
        ['service (tracing on) as a ratio to', 'CPU/req', 'req/s', 'p50', 'p99', 'throughput limited by (service / baseline)'],
        [
          ['(a) bare Fastify route', fmtX(ratios.vsBareFastify.cpuPerRequest), fmtX(ratios.vsBareFastify.rps, 3), fmtX(ratios.vsBareFastify.p50), fmtX(ratios.vsBareFastify.p99), `${svc.saturated.resource} / ${bf.saturated.resource}`],
          ['(b) bare LangGraph route', fmtX(ratios.vsBareLangGraph.cpuPerRequest), fmtX(ratios.vsBareLangGraph.rps, 3), fmtX(ratios.vsBareLangGraph.p50), fmtX(ratios.vsBareLangGraph.p99), `${svc.saturated.resource} / ${bl.saturated.resource}`],
        ],
      ),
      `service: ${svc.saturated.detail}`,
      `bare LangGraph: ${bl.saturated.detail}`,
    );
    const cpuOk = ratios.vsBareLangGraph.cpuPerRequest <= MAX_CPU_RATIO_VS_BARE_LANGGRAPH;
    report.check(
      `service (tracing on) CPU per request <= ${MAX_CPU_RATIO_VS_BARE_LANGGRAPH}x bare LangGraph (>= 0.75x its throughput on a dedicated core)`,
      cpuOk,
      `${fmtX(ratios.vsBareLangGraph.cpuPerRequest)} (${fmt(svc.cpuMsPerRequest, 3)} vs ${fmt(bl.cpuMsPerRequest, 3)} ms); throughput ${fmtX(ratios.vsBareLangGraph.rps)}, limited by ${svc.saturated.resource}`,
    );
    report.summary({
      figure: 'service (tracing on) ÷ bare LangGraph, CPU per request',
      value: `${fmtX(ratios.vsBareLangGraph.cpuPerRequest)} (${fmt(svc.cpuMsPerRequest, 2)} vs ${cpuWithSpread(bl, 2)} ms)`,
      target: `≤ ${MAX_CPU_RATIO_VS_BARE_LANGGRAPH}x`,
      met: cpuOk,
    });
    report.summary({
      figure: 'service ÷ bare LangGraph, throughput (limited by)',
      value: `${fmtX(ratios.vsBareLangGraph.rps)} (${fmt(svc.rps, 0)} vs ${fmt(bl.rps, 0)} req/s; ${svc.saturated.resource} / ${bl.saturated.resource})`,
    });
    report.summary({
      figure: 'service ÷ bare Fastify route, CPU per request',
      value: `${fmtX(ratios.vsBareFastify.cpuPerRequest)} (bare route ${cpuWithSpread(bf, 3)} ms)`,
    });
    results.overhead = { ratios, variants: { service: svc, bareFastify: bf, bareLangGraph: bl } };
  },
};
