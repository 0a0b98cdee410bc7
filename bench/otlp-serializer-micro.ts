/**
 * Micro-benchmark: CPU to serialise the service's own spans for export, per span, with the
 * library's OTLP/JSON serializer, the library's OTLP/protobuf serializer and ours
 * (src/telemetry/otlp-protobuf.ts). The spans come from real requests (app.inject, Langfuse-kind
 * prompt source so the generation carries its prompt link). In-process, interleaved, medians:
 * a noise-free complement to the /proc comparison, whose round-to-round spread on a shared
 * machine is larger than the whole difference.
 *
 *   node --import tsx bench/otlp-serializer-micro.ts [--requests 43] [--rounds 15]
 * prints one JSON line: {spans, bytesPerSpan, usPerSpan: {json, libraryProtobuf, ours}}.
 */
import { trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pino from 'pino';
import { parseSettings } from '../src/config/settings.js';
import { buildApp } from '../src/http/app.js';
import { LocalPromptSource } from '../src/prompts/local-prompt-source.js';
import type { PromptSource } from '../src/prompts/prompt-source.js';
import { createRuntime } from '../src/runtime.js';
import { createHttpInstrumentation } from '../src/telemetry/http-instrumentation.js';
import { encodeTraceExportRequest } from '../src/telemetry/otlp-protobuf.js';
import { spanProcessors, TRACER_NAME } from '../src/telemetry/tracing.js';
import { parseCliArgs } from '../test/support/stand-in-util.js';
import { median } from './lib/stats.js';

const args = parseCliArgs(process.argv.slice(2));
const requests = Number(args.get('requests') ?? 43);
const rounds = Number(args.get('rounds') ?? 15);

const memory = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: spanProcessors(new SimpleSpanProcessor(memory)) });
provider.register();
const logger = pino({ level: 'silent' });
const settings = parseSettings({ OTEL_SDK_DISABLED: 'false', PROMPT_LOCAL_FILE: 'prompts/order-status-answer.json' });
const local = LocalPromptSource.fromPath(settings.prompts.localFile);
const promptSource: PromptSource = { kind: 'langfuse', fetch: (name, label) => local.fetch(name, label) };
const runtime = createRuntime(settings, logger, trace.getTracer(TRACER_NAME), { promptSource });
await runtime.prompts.warm(['production']);
const app = await buildApp({ agent: runtime.agent, prompts: runtime.prompts, quality: runtime.quality, settings, logger, httpInstrumentation: createHttpInstrumentation(provider), metrics: runtime.metrics });
for (let i = 0; i < requests; i += 1) {
  const payload = { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: `usr_micro_${String(i).padStart(3, '0')}` };
  const res = await app.inject({ method: 'POST', url: '/order-status', headers: { 'content-type': 'application/json' }, payload });
  if (res.statusCode !== 200) throw new Error(`request failed: ${res.statusCode} ${res.body}`);
}
// 512 = the default export batch size (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
const spans = memory.getFinishedSpans().slice(0, 512);

const serializers = {
  json: () => JsonTraceSerializer.serializeRequest(spans),
  libraryProtobuf: () => ProtobufTraceSerializer.serializeRequest(spans),
  ours: () => encodeTraceExportRequest(spans),
};
const perSpan: Record<keyof typeof serializers, number[]> = { json: [], libraryProtobuf: [], ours: [] };
for (let round = 0; round < rounds + 1; round += 1) {
  for (const [name, serialize] of Object.entries(serializers) as [keyof typeof serializers, () => unknown][]) {
    const before = process.cpuUsage();
    for (let k = 0; k < 20; k += 1) serialize();
    const used = process.cpuUsage(before);
    // round 0 warms the JIT
    if (round > 0) perSpan[name].push((used.user + used.system) / (20 * spans.length));
  }
}
const bytes = (b: Uint8Array | undefined) => (b?.byteLength ?? 0) / spans.length;
console.log(
  JSON.stringify({
    node: process.version,
    spans: spans.length,
    bytesPerSpan: { json: Math.round(bytes(serializers.json())), protobuf: Math.round(bytes(serializers.ours())) },
    usPerSpan: Object.fromEntries(Object.entries(perSpan).map(([k, v]) => [k, Number(median(v).toFixed(2))])),
  }),
);
runtime.prompts.stop();
await app.close();
await runtime.scores.close(Date.now());
await provider.shutdown();
