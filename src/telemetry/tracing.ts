import { randomUUID } from 'node:crypto';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings.js';
import { isAcceptingConnections } from './collector-reachability.js';
import { createTraceExporter } from './otlp-exporter.js';
import { CountingExporter, emptyExportStats, EndedSpanCounter, routeDiagnostics, settleDroppedSpans, type ExportStats } from './export-health.js';
import { TraceContextSpanProcessor } from './trace-context.js';

export const TRACER_NAME = 'order-status-agent';

export interface Telemetry {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  readonly stats: ExportStats;
  shutdown(): Promise<void>;
}

/** One per process: tells replicas apart, so their cumulative metric series never overwrite each other. */
const SERVICE_INSTANCE_ID = randomUUID();

export function serviceResource(settings: Settings) {
  return resourceFromAttributes({
    'service.name': settings.telemetry.serviceName,
    'service.version': settings.service.agentVersion,
    'service.instance.id': SERVICE_INSTANCE_ID,
    'deployment.environment.name': settings.service.environment,
  });
}

/**
 * Metrics (SPEC §13) over OTLP/HTTP to the same Collector, pushed every
 * OTEL_METRIC_EXPORT_INTERVAL; cumulative temporality (what the Collector's
 * prometheus exporter serves). The SDK's shutdown flushes the last interval.
 */
export function metricReaders(settings: Settings): MetricReader[] {
  const m = settings.metrics;
  if (!m.enabled) return [];
  return [
    new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: m.endpoint, timeoutMillis: m.exportTimeoutMs }),
      exportIntervalMillis: m.exportIntervalMs,
      exportTimeoutMillis: m.exportTimeoutMs,
    }),
  ];
}

/** Trace-context stamping first, then the exporting processor (and its counter). Shared by the SDK and tests. */
export function spanProcessors(exporting: SpanProcessor, stats?: ExportStats): SpanProcessor[] {
  return [new TraceContextSpanProcessor(), ...(stats ? [new EndedSpanCounter(stats)] : []), exporting];
}

/**
 * Bounded batching: a dead Collector costs at most `maxQueueSize` spans of
 * memory (the rest are dropped) and never blocks a request.
 */
export function batchProcessor(exporter: SpanExporter, settings: Settings): BatchSpanProcessor {
  const t = settings.telemetry;
  return new BatchSpanProcessor(exporter, {
    maxQueueSize: t.maxQueueSize,
    maxExportBatchSize: t.maxExportBatchSize,
    scheduledDelayMillis: t.scheduleDelayMs,
    exportTimeoutMillis: t.exportTimeoutMs,
  });
}

/**
 * Starts the one global TracerProvider (OTLP/HTTP to the Collector). Nothing
 * else may register one: the Langfuse client is used for prompts only.
 */
export function startTelemetry(settings: Settings, logger: Logger): Telemetry {
  if (settings.telemetry.disabled) {
    logger.warn('OTEL_SDK_DISABLED=true: no spans or metrics are recorded or exported');
    const stats = emptyExportStats();
    return { enabled: false, tracer: trace.getTracer(TRACER_NAME), stats, shutdown: async () => {} };
  }
  const stats = emptyExportStats();
  routeDiagnostics(logger, stats);
  const exporter = new CountingExporter(createTraceExporter(settings.telemetry), stats, logger);
  const exporting = batchProcessor(exporter, settings);
  const sdk = new NodeSDK({
    resource: serviceResource(settings),
    autoDetectResources: false,
    spanProcessors: spanProcessors(exporting, stats),
    // Explicit (never from OTEL_METRICS_EXPORTER by the SDK itself): settings validated it.
    metricReaders: metricReaders(settings),
    // No logs pipeline: logs go to stdout/stderr through pino.
    logRecordProcessors: [],
  });
  sdk.start();
  logger.info({ endpoint: settings.telemetry.tracesEndpoint, protocol: settings.telemetry.protocol }, 'exporting traces over OTLP/HTTP');
  if (settings.metrics.enabled) {
    logger.info({ endpoint: settings.metrics.endpoint, intervalMs: settings.metrics.exportIntervalMs }, 'exporting metrics over OTLP/HTTP');
  } else {
    logger.warn('OTEL_METRICS_EXPORTER=none: no metrics are exported');
  }
  return {
    enabled: true,
    tracer: trace.getTracer(TRACER_NAME, settings.service.agentVersion),
    stats,
    shutdown: async () => {
      const flushing = sdk.shutdown();
      // Handled from the start: the probe below takes a moment, and a flush failing meanwhile (a
      // Collector answering 503) would otherwise be an unhandled rejection, which ends the process.
      flushing.catch(() => {});
      try {
        if (await anyCollectorReachable(settings)) {
          await flushing;
        } else {
          // Nothing listens there: the exporters' back-off retries (~8 s) could not deliver anything.
          logger.warn({ endpoint: settings.telemetry.tracesEndpoint }, 'Collector unreachable at shutdown: not waiting for export retries');
        }
      } finally {
        settleDroppedSpans(stats);
        logger.info({ ...stats }, 'telemetry stopped');
      }
    },
  };
}

async function anyCollectorReachable(settings: Settings): Promise<boolean> {
  const endpoints = new Set([settings.telemetry.tracesEndpoint, ...(settings.metrics.enabled ? [settings.metrics.endpoint] : [])]);
  const reachable = await Promise.all([...endpoints].map((endpoint) => isAcceptingConnections(endpoint)));
  return reachable.some(Boolean);
}
