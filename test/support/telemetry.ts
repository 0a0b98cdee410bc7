import { trace, type Tracer } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { spanProcessors, TRACER_NAME } from '../../src/telemetry/tracing.js';

/**
 * One global provider per test file (vitest isolates files), exporting to
 * memory with the same processor chain as production (trace context first).
 */
let provider: NodeTracerProvider | undefined;
const exporter = new InMemorySpanExporter();

export function testTracing(): { tracer: Tracer; provider: NodeTracerProvider; spans: () => ReadableSpan[]; reset: () => void } {
  if (!provider) {
    provider = new NodeTracerProvider({ spanProcessors: spanProcessors(new SimpleSpanProcessor(exporter)) });
    provider.register();
  }
  return {
    tracer: trace.getTracer(TRACER_NAME),
    provider,
    spans: () => exporter.getFinishedSpans() as ReadableSpan[],
    reset: () => exporter.reset(),
  };
}

export function spanNamed(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span named "${name}"; saw: ${spans.map((s) => s.name).join(', ')}`);
  return span;
}

export const parentId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
