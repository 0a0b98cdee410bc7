/**
 * Section "concurrency": 2,000 connections on a 5,000 ms model. The service (tracing on) and the
 * bare LangGraph graph, each fresh, warmed with one request per connection, then rounds of
 * `connections × 3` requests. Here the work is latency-bound, so throughput is the figure the
 * target uses (with server CPU per request alongside); peak RSS is VmHWM of the server process.
 *
 * Throughput is reported twice: "all" = responses / wall time (includes the connection ramp —
 * 2,000 connects against a listen backlog of 4,096, capped by net.core.somaxconn — and the drain),
 * and "steady" = the completion rate between the 2,000th and the (N − 2,000)th response; the
 * ideal is connections / latency. Closed-loop connections that start together send waves of
 * 2,000 requests, so the CPU a wave needs (connections × CPU per request) adds to the cycle time.
 */
import { readFileSync } from 'node:fs';
import { BODIES, loadgen, startServer, stopServers } from '../lib/harness.js';
import { errorsOf, measure, summarise, type RunMeasurement } from '../lib/measure.js';
import { openFileLimit, RssSampler, sleep, statusMiB } from '../lib/proc.js';
import { log } from '../lib/report.js';
import { fmt, fmtInt, fmtX, median, ratio, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

export const concurrencySection: BenchSection = {
  name: 'concurrency',
  description: 'many connections on a slow model: errors, throughput vs ideal, peak RSS (service vs bare LangGraph)',
  byDefault: true,
  options: [
    { name: 'concurrency', kind: 'number', full: 2_000, quick: 500, help: 'connections' },
    { name: 'model-latency-ms', kind: 'number', full: 5_000, help: 'OpenAI stand-in latency' },
  ],
  async run({ cfg, options, report, results, shared }) {
    const conns = options.num('concurrency');
    const modelLatencyMs = options.num('model-latency-ms');
    const requestsPerConnection = 3;
    const rounds = cfg.quick ? 1 : 2;
    const fdLimit = openFileLimit();
    // the server holds one inbound and one outbound socket per in-flight request
    if (fdLimit < conns * 2 + 512) {
      report.note(`open-file limit ${fdLimit} is below ${conns * 2 + 512}: raise it (ulimit -n) before running; results of the concurrency section are suspect`);
    }
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    log(`concurrency: model ${modelLatencyMs} ms, ${conns} connections, open-file limit ${fdLimit}, somaxconn ${somaxconn}`);
    const servers = [
      await startServer('service-slow-model', 'service', modelLatencyMs, true),
      await startServer('bare-langgraph-slow-model', 'bare-langgraph', modelLatencyMs, false),
    ];
    const spansPerRequest = shared.spansPerRequest ?? 12;
    const ideal = conns / (modelLatencyMs / 1000);
    const runs = new Map<string, RunMeasurement[]>(servers.map((s) => [s.name, []]));
    const samplers = new Map<string, RssSampler>();
    for (const server of servers) {
      log(`concurrency: warm-up ${server.name} (${conns} requests, one per connection)`);
      const warm = await loadgen().run({ url: server.url, connections: conns, amount: conns, timeoutSec: 60, bodies: BODIES });
      if (errorsOf(warm) > 0) log(`  warm-up errors: ${JSON.stringify({ errors: warm.errors, timeouts: warm.timeouts, codes: warm.statusCodes, samples: warm.errorSamples })}`);
      await sleep(2_000);
    }
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const sampler = samplers.get(server.name) ?? new RssSampler(server.proc.pid, 200);
        samplers.set(server.name, sampler);
        sampler.start();
        const m = await measure(
          server,
          { url: server.url, connections: conns, amount: conns * requestsPerConnection, timeoutSec: 60, bodies: BODIES },
          round,
          server.traced ? spansPerRequest : undefined,
        );
        sampler.stop();
        runs.get(server.name)?.push(m);
        log(
          `  round ${round + 1}/${rounds} ${server.name.padEnd(26)} ${fmt(m.rps, 1)} req/s, steady ${fmt(m.steadyRps, 1)} (ideal ${fmt(ideal, 0)})  ${fmt(m.cpuMsPerRequest, 3)} ms CPU/req  ` +
            `p50 ${fmt(m.latencyMs.p50, 0)} ms  p99 ${fmt(m.latencyMs.p99, 0)} ms  errors ${errorsOf(m)} (timeouts ${m.timeouts}, non-2xx ${m.non2xx})  RSS max ${fmt(sampler.maxMiB, 0)} MiB`,
        );
        await sleep(1_000);
      }
    }
    const summaries = servers.map((s) => {
      const r = runs.get(s.name) ?? [];
      return {
        ...summarise(s.name, r, statusMiB(s.proc.pid, 'VmHWM')),
        steadyRps: median(r.map((x) => x.steadyRps)),
        warmP50: median(r.map((x) => x.warmLatencyMs.p50)),
        warmP99: median(r.map((x) => x.warmLatencyMs.p99)),
        sampledMaxRssMiB: samplers.get(s.name)?.maxMiB ?? Number.NaN,
        rssSeries: samplers.get(s.name)?.series ?? [],
        timeouts: r.reduce((n, x) => n + x.timeouts, 0),
        statusCodes: r.map((x) => x.statusCodes),
        errorSamples: r.flatMap((x) => x.errorSamples).slice(0, 5),
      };
    });
    await stopServers(servers);
    const [svc, bare] = summaries as [(typeof summaries)[number], (typeof summaries)[number]];
    const steadyRatio = ratio(svc.steadyRps, bare.steadyRps);
    const rssRatio = ratio(svc.peakRssMiB, bare.peakRssMiB);
    report.section(
      `Concurrency: ${modelLatencyMs} ms model, ${conns} connections, ${requestsPerConnection} requests per connection, ${rounds} round(s) (medians; ideal ${fmt(ideal, 0)} req/s)`,
    );
    report.push(
      table(
        ['variant', 'CPU ms/req', 'req/s all', 'req/s steady', 'x ideal', 'p50 ms', 'p99 ms', 'warm p50', 'warm p99', 'errors', 'server %', 'limited by', 'peak RSS MiB (VmHWM)', 'spans dropped'],
        summaries.map((s) => [
          s.name,
          fmt(s.cpuMsPerRequest, 3),
          fmt(s.rps, 1),
          fmt(s.steadyRps, 1),
          fmtX(s.steadyRps / ideal),
          fmt(s.p50, 0),
          fmt(s.p99, 0),
          fmt(s.warmP50, 0),
          fmt(s.warmP99, 0),
          fmtInt(s.errors),
          fmt(s.serverCpuPct, 0),
          s.saturated.resource,
          fmt(s.peakRssMiB, 0),
          s.spansDropped === undefined ? '-' : `${fmtInt(s.spansDropped)}/${fmtInt(s.spansExpected)}`,
        ]),
      ),
      `service / bare LangGraph: CPU per request ${fmtX(ratio(svc.cpuMsPerRequest, bare.cpuMsPerRequest))}, req/s steady ${fmtX(steadyRatio)} (all ${fmtX(ratio(svc.rps, bare.rps))}), peak RSS ${fmtX(rssRatio)}`,
      `service: ${svc.saturated.detail}`,
      `"all" = responses / wall time of the run, including the ${conns}-connection ramp (listen backlog 4096, capped by net.core.somaxconn) and the drain; ` +
        `"steady" = completion rate between the ${conns}th and the (N-${conns})th response; "warm" latency excludes each connection's first request.`,
    );
    report.check('concurrency: service 0 errors', svc.errors === 0, `${svc.errors} errors/non-2xx over ${fmtInt(svc.requests)} responses (timeouts ${svc.timeouts})`);
    report.check(
      'concurrency: service throughput >= 0.9x bare LangGraph (steady state)',
      steadyRatio >= 0.9,
      `${fmtX(steadyRatio)} (${fmt(svc.steadyRps, 1)} vs ${fmt(bare.steadyRps, 1)} req/s; ideal ${fmt(ideal, 0)}; including ramp and drain ${fmtX(ratio(svc.rps, bare.rps))})`,
    );
    report.check('concurrency: service peak RSS <= 1.25x bare LangGraph', rssRatio <= 1.25, `${fmtX(rssRatio)} (${fmt(svc.peakRssMiB, 0)} vs ${fmt(bare.peakRssMiB, 0)} MiB)`);
    report.summary({
      figure: `${fmtInt(conns)} connections on a ${fmt(modelLatencyMs / 1000, 0)} s model: errors`,
      value: fmtInt(svc.errors),
      target: '0',
      met: svc.errors === 0,
    });
    report.summary({
      figure: `${fmtInt(conns)} connections: throughput ÷ bare LangGraph (steady)`,
      value: `${fmtX(steadyRatio)} (${fmt(svc.steadyRps, 0)} req/s; ideal ${fmt(ideal, 0)}; CPU ${fmt(svc.cpuMsPerRequest, 2)} vs ${fmt(bare.cpuMsPerRequest, 2)} ms/req)`,
      target: '≥ 0.9x',
      met: steadyRatio >= 0.9,
    });
    report.summary({
      figure: `${fmtInt(conns)} connections: peak RSS ÷ bare LangGraph`,
      value: `${fmtX(rssRatio)} (${fmt(svc.peakRssMiB, 0)} vs ${fmt(bare.peakRssMiB, 0)} MiB)`,
      target: '≤ 1.25x',
      met: rssRatio <= 1.25,
    });
    results.concurrency = { connections: conns, modelLatencyMs, idealRps: ideal, requestsPerConnection, fdLimit, somaxconn, variants: summaries, runs: Object.fromEntries(runs) };
  },
};
