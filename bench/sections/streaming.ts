/**
 * Section "streaming" (SPEC §12): time to first token added by the service at 1, 100 and 1,000
 * concurrent streams, and CPU per streamed vs plain request. The measurement lives in
 * bench/streaming.ts (its own stand-ins, servers and client process); this wires it in.
 */
import { baseEnv, logDir, ROOT, sinkUrl } from '../lib/harness.js';
import { log } from '../lib/report.js';
import { fmt, fmtX, ratio } from '../lib/stats.js';
import { streamingSection as measureStreaming } from '../streaming.js';
import type { BenchSection } from './section.js';

interface StreamingResults {
  levels: { streams: number; addedP50: number; addedP99: number; errors: number }[];
  cpu: { streamMedian: number; plainMedian: number };
}

export const streamingSection: BenchSection = {
  name: 'streaming',
  description: 'time to first token added at 1/100/1,000 concurrent streams; CPU per streamed vs plain request',
  byDefault: true,
  async run({ cfg, report, results }) {
    const r = await measureStreaming({ root: ROOT, logDir: logDir(), nodeBin: cfg.nodeBin, serverFlags: cfg.serverFlags, sinkUrl: sinkUrl(), quick: cfg.quick, baseEnv, log });
    report.push(...r.report);
    for (const c of r.checks) report.check(c.name, c.pass, c.detail);
    const s = r.results as unknown as StreamingResults;
    const at100 = s.levels.find((l) => l.streams === 100);
    report.summary({
      figure: 'streaming: time to first token added, p50 / p99 at 100 concurrent streams',
      value: `${fmt(at100?.addedP50, 2)} / ${fmt(at100?.addedP99, 2)} ms`,
      target: 'p50 ≤ 5 ms on Node 24',
      met: cfg.serverNodeVersion.startsWith('24.') ? (at100?.addedP50 ?? Number.POSITIVE_INFINITY) <= 5 : undefined,
    });
    report.summary({
      figure: 'streaming: CPU per request, streamed / not streamed (16 concurrent, 0 ms model)',
      value: `${fmt(s.cpu.streamMedian, 3)} / ${fmt(s.cpu.plainMedian, 3)} ms (${fmtX(ratio(s.cpu.streamMedian, s.cpu.plainMedian))})`,
    });
    results.streaming = r.results;
  },
};
