import { randomUUID } from 'node:crypto';
import { context, createContextKey, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Who and what a run belongs to: becomes Langfuse's session, user, trace name, tags and metadata. */
export interface TraceContext {
  sessionId: string;
  userId: string;
  traceName: string;
  version: string;
  tags: readonly string[];
  metadata: Readonly<Record<string, string>>;
  /** Further attributes for every span of the run (e.g. the release gate's `langfuse.experiment.*`). */
  attributes?: Readonly<Attributes>;
}

/**
 * A fresh Langfuse session id for a conversation that did not bring one: `conv_` + 32 hex digits.
 * From randomUUID (122 random bits), which draws from a cached pool: a fifth of the CPU of a
 * randomBytes call per request.
 */
export function newConversationId(): string {
  return `conv_${randomUUID().replaceAll('-', '')}`;
}

const TRACE_CONTEXT_ATTRIBUTES = createContextKey('order-status.trace-context-attributes');

const computed = new WeakMap<TraceContext, Attributes>();

/** The `langfuse.*` attributes every span of a run carries (SPEC §5); built once per context. */
export function traceContextAttributes(tc: TraceContext): Attributes {
  let attributes = computed.get(tc);
  if (attributes) return attributes;
  attributes = {
    'langfuse.session.id': tc.sessionId,
    'langfuse.user.id': tc.userId,
    'langfuse.trace.name': tc.traceName,
    'langfuse.version': tc.version,
    'langfuse.trace.tags': [...tc.tags],
  };
  for (const [key, value] of Object.entries(tc.metadata)) {
    attributes[`langfuse.trace.metadata.${key}`] = value;
  }
  if (tc.attributes) Object.assign(attributes, tc.attributes);
  computed.set(tc, attributes);
  return attributes;
}

/**
 * Runs `fn` with the trace context active. A context value rather than W3C
 * baggage (the book's choice): baggage would also travel in outgoing HTTP
 * headers, handing the user id to third parties.
 */
export function withTraceContext<T>(tc: TraceContext, fn: () => T): T {
  const active = context.active().setValue(TRACE_CONTEXT_ATTRIBUTES, traceContextAttributes(tc));
  return context.with(active, fn);
}

/** Stamps the attributes on a span that started before the context was known (the HTTP span). */
export function stampTraceContext(span: Span, tc: TraceContext): void {
  span.setAttributes(traceContextAttributes(tc));
}

/** Copies the active trace context onto every span started inside `withTraceContext`. */
export class TraceContextSpanProcessor implements SpanProcessor {
  onStart(span: Span, parentContext: Context): void {
    const attributes = parentContext.getValue(TRACE_CONTEXT_ATTRIBUTES) as Attributes | undefined;
    if (attributes) span.setAttributes(attributes);
  }
  onEnd(_span: ReadableSpan): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
