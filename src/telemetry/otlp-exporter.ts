import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Settings } from '../config/settings.js';
import { fastProtobufTraceSerializer } from './otlp-protobuf.js';

/**
 * The OTLP/HTTP trace exporter in the configured encoding (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL).
 *
 * `http/protobuf` (default) is built exactly like @opentelemetry/exporter-trace-otlp-proto's
 * exporter: the same otlp-exporter-base HTTP delegate (retries on 429/502/503/504 with
 * Retry-After, timeouts, OTEL_EXPORTER_OTLP_HEADERS/COMPRESSION, concurrency limit), only the
 * serializer is ours (otlp-protobuf.ts: the same bytes in a third of the CPU). `http/json` is the
 * stock OTLP/JSON exporter.
 */
export function createTraceExporter(telemetry: Settings['telemetry']): SpanExporter {
  const config = { url: telemetry.tracesEndpoint, timeoutMillis: telemetry.exportTimeoutMs };
  if (telemetry.protocol === 'http/json') return new OTLPJsonTraceExporter(config);
  return new OTLPExporterBase<ReadableSpan[]>(
    createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      fastProtobufTraceSerializer,
      // the official exporters' self-observability component type (metrics only with a meter provider)
      'otlp_http_span_exporter',
      TraceExporterMetricsHelper,
      undefined,
    ),
  );
}
