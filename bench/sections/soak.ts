/**
 * Section "soak": N requests in 10 chunks against a fresh service with tracing (0 ms model); RSS
 * at start (after warm-up), middle and end, CPU per request over the whole soak, spans dropped.
 * Capped by `--soak-max-seconds` (reported as truncated).
 */
import { BODIES, calibrateSpansPerRequest, loadgen, sinkStats, startServer, stopServers, waitForSpans } from '../lib/harness.js';
import { errorsOf } from '../lib/measure.js';
import { cpuMs, RssSampler, sleep, statusMiB } from '../lib/proc.js';
import { log } from '../lib/report.js';
import { fmt, fmtInt, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

export const soakSection: BenchSection = {
  name: 'soak',
  description: 'RSS over a long run with tracing (start, middle, end), spans dropped',
  byDefault: true,
  options: [
    { name: 'soak-requests', kind: 'number', full: 100_000, quick: 5_000, help: 'requests' },
    { name: 'soak-max-seconds', kind: 'number', full: 360, quick: 120, help: 'time cap' },
  ],
  async run({ cfg, options, report, results, shared }) {
    const total = options.num('soak-requests');
    const maxSec = options.num('soak-max-seconds');
    const chunks = 10;
    const chunk = Math.max(cfg.connections, Math.round(total / chunks));
    log(`soak: ${fmtInt(total)} requests in ${chunks} chunks (cap ${maxSec} s), service with tracing`);
    const server = await startServer('service-soak', 'service', 0, true);
    const spansPerRequest = shared.spansPerRequest ?? (await calibrateSpansPerRequest(server));
    await loadgen().run({ url: server.url, connections: cfg.connections, amount: cfg.quick ? 500 : 2_000, timeoutSec: 10, bodies: BODIES });
    await sleep(1_500);
    const sampler = new RssSampler(server.proc.pid, 500).start();
    const points: { requests: number; rssMiB: number; elapsedSec: number }[] = [{ requests: 0, rssMiB: statusMiB(server.proc.pid, 'VmRSS'), elapsedSec: 0 }];
    const cpu0 = cpuMs(server.proc.pid);
    const sink0 = (await sinkStats()).spans;
    const t0 = Date.now();
    let done = 0;
    let errors = 0;
    const latP99: number[] = [];
    let truncated = false;
    while (done < total) {
      const elapsed = (Date.now() - t0) / 1000;
      const perRequest = done > 0 ? elapsed / done : 0;
      if (done > 0 && elapsed + perRequest * chunk > maxSec) {
        truncated = true;
        break;
      }
      const r = await loadgen().run({ url: server.url, connections: cfg.connections, amount: Math.min(chunk, total - done), timeoutSec: 10, bodies: BODIES });
      done += r.completed;
      errors += errorsOf(r);
      latP99.push(r.latencyMs.p99);
      points.push({ requests: done, rssMiB: statusMiB(server.proc.pid, 'VmRSS'), elapsedSec: (Date.now() - t0) / 1000 });
      log(`  soak ${fmtInt(done)}/${fmtInt(total)}  RSS ${fmt(points.at(-1)?.rssMiB, 0)} MiB  ${fmt(r.rps, 0)} req/s  p99 ${fmt(r.latencyMs.p99, 1)} ms`);
    }
    const elapsedSec = (Date.now() - t0) / 1000;
    const expectedSpans = Math.round(done * spansPerRequest);
    const received = await waitForSpans(sink0, expectedSpans);
    const cpuPerRequest = (cpuMs(server.proc.pid) - cpu0) / Math.max(1, done);
    sampler.stop();
    const hwm = statusMiB(server.proc.pid, 'VmHWM');
    await stopServers([server]);
    const start = points[0] as (typeof points)[number];
    const end = points.at(-1) as (typeof points)[number];
    const middle = points.reduce((best, p) => (Math.abs(p.requests - done / 2) < Math.abs(best.requests - done / 2) ? p : best), start);
    const dropped = Math.max(0, expectedSpans - received);
    report.section(`Soak: ${fmtInt(done)} requests${truncated ? ` (STOPPED by the ${maxSec} s cap; asked for ${fmtInt(total)})` : ''} at ${cfg.connections} connections, service with tracing, 0 ms model`);
    report.push(
      table(
        ['point', 'requests', 'RSS MiB'],
        [
          ['start (after warm-up)', fmtInt(start.requests), fmt(start.rssMiB, 1)],
          ['middle', fmtInt(middle.requests), fmt(middle.rssMiB, 1)],
          ['end', fmtInt(end.requests), fmt(end.rssMiB, 1)],
        ],
      ),
      `RSS series (every ${fmtInt(chunk)} requests): ${points.map((p) => fmt(p.rssMiB, 0)).join(' ')} MiB; peak (VmHWM) ${fmt(hwm, 0)} MiB; ` +
        `${fmt(cpuPerRequest, 3)} ms CPU/req; ${fmt(done / elapsedSec, 0)} req/s; errors ${errors}; spans ${fmtInt(received)}/${fmtInt(expectedSpans)} (dropped ${fmtInt(dropped)}); ` +
        `chunk p99 ${fmt(Math.min(...latP99), 1)}..${fmt(Math.max(...latP99), 1)} ms`,
    );
    const noGrowth = end.rssMiB <= middle.rssMiB * 1.1;
    report.check('soak: no RSS growth (end <= 1.10x middle)', noGrowth, `start ${fmt(start.rssMiB, 0)} / middle ${fmt(middle.rssMiB, 0)} / end ${fmt(end.rssMiB, 0)} MiB${truncated ? ' (truncated soak)' : ''}`);
    report.summary({
      figure: `soak, ${fmtInt(done)} requests${truncated ? ' (time cap)' : ''}: RSS start → middle → end; spans dropped`,
      value: `${fmt(start.rssMiB, 0)} → ${fmt(middle.rssMiB, 0)} → ${fmt(end.rssMiB, 0)} MiB; ${fmtInt(dropped)} (${fmt(cpuPerRequest, 2)} ms CPU/req)`,
      target: 'end ≤ 1.10x middle',
      met: noGrowth,
    });
    results.soak = { requested: total, requests: done, truncated, elapsedSec, errors, points, rssSeries: sampler.series, peakRssMiB: hwm, cpuMsPerRequest: cpuPerRequest, spansExpected: expectedSpans, spansReceived: received };
  },
};
