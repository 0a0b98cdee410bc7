import { SpanStatusCode, type Attributes, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';

/** The error class to record: our own errors carry a stable `errorType`. */
export function errorType(error: unknown): string {
  if (error && typeof error === 'object') {
    const typed = error as { errorType?: unknown; name?: unknown; constructor?: { name?: string } };
    if (typeof typed.errorType === 'string') return typed.errorType;
    if (typeof typed.name === 'string' && typed.name !== 'Error') return typed.name;
    if (typed.constructor?.name) return typed.constructor.name;
  }
  return 'Error';
}

export function recordError(span: Span, error: unknown, extra?: Attributes): void {
  const type = errorType(error);
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  span.setAttributes({ 'error.type': type, ...extra });
}

/** Runs `fn` inside an active span; records a thrown error and always ends the span. */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}
