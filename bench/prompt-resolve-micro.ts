/**
 * Micro-benchmark: PromptResolver.resolve() on a warm cache, in-process (started by bench/run.ts
 * with the node binary under test). The resolver comes from the composition root
 * (createRuntime), pointed at the Langfuse stand-in the driver runs, and is warmed once.
 *
 *   node --import tsx bench/prompt-resolve-micro.ts --langfuse-url http://127.0.0.1:3100
 *     --public-key pk --secret-key sk [--iterations 500000] [--repeats 5]
 * prints one JSON line: {nsPerOp, nsPerOpRuns, awaitFloorNsPerOp, fetchesDuringLoop, source}.
 */
import { trace } from '@opentelemetry/api';
import pino from 'pino';
import { parseSettings } from '../src/config/settings.js';
import { createRuntime } from '../src/runtime.js';
import { parseCliArgs } from '../test/support/stand-in-util.js';
import { median } from './lib/stats.js';

const args = parseCliArgs(process.argv.slice(2));
const iterations = Number(args.get('iterations') ?? 500_000);
const repeats = Number(args.get('repeats') ?? 5);
const label = args.get('label') ?? 'production';

const settings = parseSettings({
  OPENAI_API_KEY: 'sk-bench-micro',
  OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
  LANGFUSE_PUBLIC_KEY: args.get('public-key') ?? 'pk-lf-bench',
  LANGFUSE_SECRET_KEY: args.get('secret-key') ?? 'sk-lf-bench',
  LANGFUSE_BASE_URL: args.get('langfuse-url') ?? 'http://127.0.0.1:3100',
  OTEL_SDK_DISABLED: 'true',
  LOG_LEVEL: 'silent',
});
const runtime = createRuntime(settings, pino({ level: 'silent' }), trace.getTracer('bench'));
const prompts = runtime.prompts;
await prompts.warm([label]);
const first = await prompts.resolve(label);
if (!first.template) throw new Error('warm-up did not yield a template');

async function timeLoop(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) await fn();
  return Number(process.hrtime.bigint() - t0) / iterations;
}

// JIT warm-up of both loops
await timeLoop(() => prompts.resolve(label));
const value = { ok: true };
await timeLoop(() => Promise.resolve(value));

// fetchCount is the resolver's own counter; the driver also counts fetches at the Langfuse stand-in.
const fetchCount = () => prompts.fetchCount;
const fetchesBefore = fetchCount();
const runs: number[] = [];
const floor: number[] = [];
for (let r = 0; r < repeats; r += 1) {
  runs.push(await timeLoop(() => prompts.resolve(label)));
  floor.push(await timeLoop(async () => value));
}
const fetchesDuringLoop = fetchCount() - fetchesBefore;
prompts.stop();

process.stdout.write(
  JSON.stringify({
    iterations,
    repeats,
    nsPerOp: median(runs),
    nsPerOpRuns: runs.map((v) => Math.round(v)),
    awaitFloorNsPerOp: median(floor),
    fetchesDuringLoop,
    source: first.source,
    node: process.version,
  }) + '\n',
);
process.exit(0);
