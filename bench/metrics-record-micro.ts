/**
 * Micro-benchmark: the metric recordings ONE answered request makes (http duration, model
 * duration, 2 token points, cost, prompt resolution, agent run), on a real SDK MeterProvider with
 * a reader attached, in-process. Started by bench/metrics-cost.ts with the node under test; a
 * noise-free complement to the /proc CPU comparison.
 *
 *   node --import tsx bench/metrics-record-micro.ts [--iterations 200000] [--repeats 5]
 * prints one JSON line: {nsPerRequest, nsPerRequestRuns}.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { ServiceMetrics } from '../src/telemetry/metrics.js';
import { parseCliArgs } from '../test/support/stand-in-util.js';
import { median } from './lib/stats.js';

class IdleReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const args = parseCliArgs(process.argv.slice(2));
const iterations = Number(args.get('iterations') ?? 200_000);
const repeats = Number(args.get('repeats') ?? 5);
const reader = new IdleReader();
const metrics = new ServiceMetrics(new MeterProvider({ readers: [reader] }).getMeter('micro'));

function oneRequest(i: number): void {
  metrics.recordPromptResolution('production', 1, 'langfuse');
  metrics.recordModelCall({ requestModel: 'gpt-4o-mini', durationSeconds: 0.8 + (i % 7) / 10, usage: { inputTokens: 120 + (i % 5), outputTokens: 60 } });
  metrics.recordLlmCost(0.0000543, 'gpt-4o-mini', 1);
  metrics.recordAgentRun('answer');
  metrics.recordHttpRequest('POST', '/order-status', 200, 0.9 + (i % 3) / 10);
}

const runs: number[] = [];
for (let r = 0; r < repeats + 1; r += 1) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) oneRequest(i);
  const ns = Number(process.hrtime.bigint() - t0) / iterations;
  if (r > 0) runs.push(Math.round(ns)); // the first pass warms the JIT
  await reader.collect(); // an export's collection between passes, like the periodic reader
}
process.stdout.write(`${JSON.stringify({ nsPerRequest: median(runs), nsPerRequestRuns: runs })}\n`);
