import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';

/** What happened to the spans this process produced. */
export interface ExportStats {
  exportedSpans: number;
  failedSpans: number;
  /** Dropped because the bounded queue was full (the Collector was down or slow). */
  droppedSpans: number;
}

/**
 * Wraps the OTLP exporter: counts outcomes and logs a failing Collector once
 * per outage (and once on recovery), never per span or per batch.
 */
export class CountingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly stats: ExportStats,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.stats.exportedSpans += spans.length;
        if (this.failing) this.logger.info({ ...this.stats }, 'span export recovered');
        this.failing = false;
      } else {
        this.stats.failedSpans += spans.length;
        if (!this.failing) this.logger.warn({ err: result.error?.message }, 'span export failing; spans are queued (bounded) and retried by batch');
        this.failing = true;
      }
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const DROPPED = /Dropped (\d+) spans/;

/**
 * OpenTelemetry's internal warnings through pino, one line per message shape per minute.
 * The batch processor reports queue overflow as one "Dropped N spans" line
 * per episode; that count feeds `droppedSpans`.
 */
export function routeDiagnostics(logger: Logger, stats: ExportStats, now: () => number = Date.now): void {
  const lastSeen = new Map<string, number>();
  const emit = (level: 'warn' | 'error') => (message: string) => {
    const dropped = DROPPED.exec(message);
    if (dropped) stats.droppedSpans += Number(dropped[1]);
    const at = now();
    // Same shape, different counts ("Dropped 12 spans", "Dropped 40 spans"): one line a minute.
    const shape = message.replace(/\d+/g, 'N');
    if ((lastSeen.get(shape) ?? -Infinity) > at - 60_000) return;
    lastSeen.set(shape, at);
    if (lastSeen.size > 100) lastSeen.clear();
    logger[level]({ component: 'opentelemetry', ...(dropped ? { droppedSpans: stats.droppedSpans } : {}) }, message);
  };
  const ignore = () => {};
  const adapter: DiagLogger = { error: emit('error'), warn: emit('warn'), info: ignore, debug: ignore, verbose: ignore };
  diag.setLogger(adapter, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
