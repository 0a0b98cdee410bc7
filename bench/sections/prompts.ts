/**
 * Section "prompts": the prompt hot path. During the measured runs the Langfuse stand-in (in this
 * driver process) answers after 1,000 ms, so a request that waited on a prompt fetch takes ≥ 1 s:
 * "blocking fetches" = responses ≥ 1 s. (a) default TTL (60 s): Langfuse requests during N
 * requests after warm-up; (b) TTL 2 s: background refreshes forced during the run, still never
 * blocking. Plus PromptResolver.resolve on a warm cache in its own process on the node under test.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BODIES, baseEnv, langfuse, LF_PUBLIC, LF_SECRET, loadgen, ROOT, startServer, stopServers } from '../lib/harness.js';
import { errorsOf, measure } from '../lib/measure.js';
import { log } from '../lib/report.js';
import { fmt, fmtInt, table } from '../lib/stats.js';
import type { BenchSection } from './section.js';

/** Langfuse stand-in latency while counting prompt fetches: a request that waited on a fetch takes at least this long. */
const LANGFUSE_PROBE_DELAY_MS = 1_000;
const REFRESH_PROBE_TTL_SECONDS = 2;

export const promptsSection: BenchSection = {
  name: 'prompts',
  description: 'prompt fetches per 10k requests after warm-up, blocking fetches, cached resolve ns/op',
  byDefault: true,
  options: [{ name: 'prompt-requests', kind: 'number', full: 10_000, quick: 2_000, help: 'requests of the default-TTL run' }],
  async run({ cfg, options, report, results }) {
    const promptRequests = options.num('prompt-requests');
    const refreshProbeRequests = cfg.quick ? 800 : 3_000;
    const lf = langfuse();
    // (a) production TTL: how many Langfuse requests do N service requests cause after warm-up?
    log(`prompts: service with PROMPT_CACHE_TTL_SECONDS=60 (default), ${promptRequests} requests`);
    const a = await startServer('service-prompts-ttl60', 'service', 0, false, { PROMPT_CACHE_TTL_SECONDS: '60' });
    const startedAt = Date.now();
    await loadgen().run({ url: a.url, connections: cfg.connections, amount: 1_000, timeoutSec: 10, bodies: BODIES });
    lf.setDelayMs(LANGFUSE_PROBE_DELAY_MS);
    const f0 = lf.promptFetches();
    const runA = await measure(a, { url: a.url, connections: cfg.connections, amount: promptRequests, timeoutSec: 10, bodies: BODIES, slowThresholdMs: LANGFUSE_PROBE_DELAY_MS }, 0);
    const fetchesA = lf.promptFetches() - f0;
    const windowSec = (Date.now() - startedAt) / 1000;
    lf.setDelayMs(0);
    await stopServers([a]);
    // background refresh starts at 80% of the TTL: this many are possible in the window since start-up
    const backgroundBoundA = Math.ceil(windowSec / (0.8 * 60));

    // (b) refresh under load: a 2 s TTL forces background refreshes during the run, Langfuse answers in 1 s;
    // any request that waited on a fetch would take >= 1 s.
    log(`prompts: service with PROMPT_CACHE_TTL_SECONDS=${REFRESH_PROBE_TTL_SECONDS}, Langfuse delay ${LANGFUSE_PROBE_DELAY_MS} ms, ${refreshProbeRequests} requests`);
    const b = await startServer('service-prompts-ttl2', 'service', 0, false, { PROMPT_CACHE_TTL_SECONDS: String(REFRESH_PROBE_TTL_SECONDS) });
    await loadgen().run({ url: b.url, connections: cfg.connections, amount: 500, timeoutSec: 10, bodies: BODIES });
    lf.setDelayMs(LANGFUSE_PROBE_DELAY_MS);
    const g0 = lf.promptFetches();
    const runB = await measure(b, { url: b.url, connections: cfg.connections, amount: refreshProbeRequests, timeoutSec: 10, bodies: BODIES, slowThresholdMs: LANGFUSE_PROBE_DELAY_MS }, 0);
    const fetchesB = lf.promptFetches() - g0;
    lf.setDelayMs(0);
    await stopServers([b]);

    // (c) micro-benchmark of a cached resolve, in its own process on the node under test
    log('prompts: PromptResolver.resolve micro-benchmark');
    const iterations = cfg.quick ? 100_000 : 500_000;
    // async: the Langfuse stand-in it warms from lives in THIS process's event loop
    const { stdout: microOut } = await promisify(execFile)(
      cfg.nodeBin,
      [...cfg.serverFlags, '--import', 'tsx', 'bench/prompt-resolve-micro.ts', '--langfuse-url', lf.baseUrl, '--public-key', LF_PUBLIC, '--secret-key', LF_SECRET, '--iterations', String(iterations)],
      { cwd: ROOT, env: baseEnv(), encoding: 'utf8', timeout: 180_000 },
    );
    const micro = JSON.parse(microOut.trim().split('\n').at(-1) as string) as { nsPerOp: number; awaitFloorNsPerOp: number; fetchesDuringLoop: number; nsPerOpRuns: number[] };

    const per10k = (fetches: number, requests: number) => (fetches / Math.max(1, requests)) * 10_000;
    report.section(`Prompt hot path (Langfuse stand-in answers in ${LANGFUSE_PROBE_DELAY_MS} ms during the measured runs)`);
    report.push(
      table(
        ['run', 'requests', 'CPU ms/req', 'req/s', 'Langfuse fetches', 'per 10k req', 'responses >= 1 s', 'max ms'],
        [
          [`TTL 60 s (default), after warm-up`, fmtInt(runA.completed), fmt(runA.cpuMsPerRequest, 3), fmt(runA.rps, 0), fmtInt(fetchesA), fmt(per10k(fetchesA, runA.completed), 2), fmtInt(runA.slowResponses), fmt(runA.latencyMs.max, 1)],
          [`TTL ${REFRESH_PROBE_TTL_SECONDS} s (forced background refreshes)`, fmtInt(runB.completed), fmt(runB.cpuMsPerRequest, 3), fmt(runB.rps, 0), fmtInt(fetchesB), fmt(per10k(fetchesB, runB.completed), 2), fmtInt(runB.slowResponses), fmt(runB.latencyMs.max, 1)],
        ],
      ),
      `PromptResolver.resolve (cached): ${fmt(micro.nsPerOp, 0)} ns/op awaited (await floor ${fmt(micro.awaitFloorNsPerOp, 0)} ns/op; runs ${micro.nsPerOpRuns.join(', ')}); fetches during the loop: ${micro.fetchesDuringLoop}`,
    );
    const blocking = (runA.slowResponses ?? 0) + (runB.slowResponses ?? 0);
    const ok = blocking === 0 && fetchesA <= backgroundBoundA && micro.fetchesDuringLoop === 0;
    report.check(
      '0 blocking prompt fetches after warm-up',
      ok,
      `${blocking} responses took >= ${LANGFUSE_PROBE_DELAY_MS} ms while every fetch took ${LANGFUSE_PROBE_DELAY_MS} ms; TTL 60: ${fetchesA} fetches in ${fmtInt(runA.completed)} requests (background bound ${backgroundBoundA}); ` +
        `TTL ${REFRESH_PROBE_TTL_SECONDS}: ${fetchesB} background fetches`,
    );
    report.summary({
      figure: 'Langfuse fetches per 10k requests after warm-up / blocking fetches',
      value: `${fmt(per10k(fetchesA, runA.completed), 0)} / ${fmtInt(blocking)}`,
      target: '0 blocking',
      met: ok,
    });
    results.prompts = {
      probeDelayMs: LANGFUSE_PROBE_DELAY_MS,
      defaultTtl: { requests: runA.completed, fetches: fetchesA, per10k: per10k(fetchesA, runA.completed), backgroundBound: backgroundBoundA, slowResponses: runA.slowResponses, rps: runA.rps, cpuMsPerRequest: runA.cpuMsPerRequest, latencyMs: runA.latencyMs, errors: errorsOf(runA) },
      shortTtl: { ttlSeconds: REFRESH_PROBE_TTL_SECONDS, requests: runB.completed, fetches: fetchesB, per10k: per10k(fetchesB, runB.completed), slowResponses: runB.slowResponses, rps: runB.rps, cpuMsPerRequest: runB.cpuMsPerRequest, latencyMs: runB.latencyMs, errors: errorsOf(runB) },
      micro,
    };
  },
};
