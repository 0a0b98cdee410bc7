import { diag, DiagLogLevel, TraceFlags, type Context, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';

/** What happened to the spans this process produced. */
export interface ExportStats {
  /** Sampled spans handed to the exporting processor. */
  endedSpans: number;
  exportedSpans: number;
  failedSpans: number;
  /** Dropped because the bounded queue was full (the Collector was down or slow). */
  droppedSpans: number;
}

export const emptyExportStats = (): ExportStats => ({ endedSpans: 0, exportedSpans: 0, failedSpans: 0, droppedSpans: 0 });

/**
 * Counts the sampled spans that reach the batch processor. Its "Dropped N spans" report only
 * comes when a later span finds room in the queue, so an overflow that lasts until shutdown
 * is never reported; at shutdown, ended − exported − failed is what it dropped.
 */
export class EndedSpanCounter implements SpanProcessor {
  constructor(private readonly stats: ExportStats) {}

  onStart(_span: Span, _context: Context): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) this.stats.endedSpans += 1;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** After the exporting processor has shut down: every ended span was exported, failed or dropped. */
export function settleDroppedSpans(stats: ExportStats): void {
  stats.droppedSpans = Math.max(stats.droppedSpans, stats.endedSpans - stats.exportedSpans - stats.failedSpans);
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
 * The SDK's global error handler (e.g. a failed metrics export) hands over a
 * JSON-serialised error with its stack: log its message, not the stack.
 */
function errorMessageOf(raw: string): string {
  if (!raw.startsWith('{')) return raw;
  try {
    const parsed = JSON.parse(raw) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : raw;
  } catch {
    return raw;
  }
}

/**
 * OpenTelemetry's internal warnings through pino, one line per message shape per minute.
 * The batch processor reports queue overflow as one "Dropped N spans" line
 * per episode; that count feeds `droppedSpans`.
 */
export function routeDiagnostics(logger: Logger, stats: ExportStats, now: () => number = Date.now): void {
  const lastSeen = new Map<string, number>();
  const emit = (level: 'warn' | 'error') => (raw: string) => {
    const message = errorMessageOf(raw);
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
