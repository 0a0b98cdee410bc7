/**
 * Heap-retention probe: how much of the JS heap survives a full GC while the agent is serving?
 * (A request that stays reachable after it has answered shows up here long before it shows up
 * as RSS in the soak.) Runs the real agent (createRuntime → agent.run, no HTTP, tracing off)
 * against in-process OpenAI and Langfuse stand-ins, 4 runs in flight, and prints heapUsed after
 * a forced full GC every `--every` runs.
 *
 *   node --expose-gc --import tsx bench/heap-retention.ts [--runs 16000] [--every 4000]
 *
 * Env passes through to the settings (e.g. OPENAI_TIMEOUT_MS=1000 to see the retention follow
 * the model-call timeout).
 */
import { trace } from '@opentelemetry/api';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parseSettings } from '../src/config/settings.js';
import { createRuntime } from '../src/runtime.js';
import { startLangfusePromptStandIn, type LangfusePromptSeed } from '../test/support/langfuse-prompt-stand-in.js';
import { startOpenAIStandIn } from '../test/support/openai-stand-in.js';
import { parseCliArgs } from '../test/support/stand-in-util.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc --import tsx bench/heap-retention.ts\n');
  process.exit(2);
}
const args = parseCliArgs(process.argv.slice(2));
const runs = Number(args.get('runs') ?? 16_000);
const every = Number(args.get('every') ?? 4_000);

const local = JSON.parse(readFileSync(new URL('../prompts/order-status-answer.json', import.meta.url), 'utf8')) as {
  name: string;
  versions: { labels: string[]; config: unknown; prompt: { role: string; content: string }[] }[];
};
const seed: LangfusePromptSeed[] = local.versions.map((v) => ({ name: local.name, type: 'chat', prompt: v.prompt, labels: v.labels, config: v.config }));
const langfuse = await startLangfusePromptStandIn({ publicKey: 'pk-lf-probe', secretKey: 'sk-lf-probe', prompts: seed });
const openai = await startOpenAIStandIn({ record: false, apiKey: 'sk-probe' });
const settings = parseSettings({
  ...process.env,
  OPENAI_API_KEY: 'sk-probe',
  OPENAI_BASE_URL: openai.baseURL,
  LANGFUSE_PUBLIC_KEY: 'pk-lf-probe',
  LANGFUSE_SECRET_KEY: 'sk-lf-probe',
  LANGFUSE_BASE_URL: langfuse.baseUrl,
  OTEL_SDK_DISABLED: 'true',
});
const runtime = createRuntime(settings, pino({ level: 'silent' }), trace.getTracer('heap-retention'));
await runtime.prompts.warm(['production']);
const input = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_bench_01', conversation_id: 'conv_probe', prompt_label: 'production' };
const one = async () => {
  const { state } = await runtime.agent.run(input);
  if (state.outcome !== 'answer') throw new Error(`unexpected outcome ${state.outcome}`);
};

const mib = (n: number) => (n / 2 ** 20).toFixed(1);
process.stdout.write(`node ${process.version}; model-call timeout ${settings.openai.attemptTimeoutMs} ms\n`);
for (let done = 0; done < runs; ) {
  const t0 = Date.now();
  for (let i = 0; i < every; i += 4) await Promise.all([one(), one(), one(), one()]);
  done += every;
  const seconds = (Date.now() - t0) / 1000;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const m = process.memoryUsage();
  process.stdout.write(
    `after ${String(done).padStart(6)} runs (${(every / seconds).toFixed(0)} runs/s): heapUsed after full GC ${mib(m.heapUsed).padStart(6)} MiB, rss ${mib(m.rss).padStart(7)} MiB\n`,
  );
}
runtime.prompts.stop();
await openai.close();
await langfuse.close();
process.exit(0);
