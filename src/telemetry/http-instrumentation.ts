import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { TracerProvider } from '@opentelemetry/api';

const UNTRACED = new Set(['/healthz', '/readyz']);

/**
 * @fastify/otel (the maintained Fastify instrumentation) registered as a
 * plugin: one SERVER span per request named `<METHOD> <route>`, continuing an
 * incoming W3C `traceparent`. Hook and handler child spans are off: they add
 * cost and no insight here. Probes and docs are not traced.
 */
export function createHttpInstrumentation(tracerProvider?: TracerProvider): FastifyOtelInstrumentation {
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    instrumentHandler: false,
    ignorePaths: (route) => UNTRACED.has(route.url) || route.url.startsWith('/docs'),
    requestHook: (span, request) => span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`),
  });
  if (tracerProvider) instrumentation.setTracerProvider(tracerProvider);
  return instrumentation;
}
