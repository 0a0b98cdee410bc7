import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../telemetry/metrics.js';

/**
 * `http.server.request.duration` for every answered request (probes, 4xx and
 * rejected ones included): the route TEMPLATE, never the URL, so unmatched
 * paths add no series. Registered on the root instance before any route.
 */
export function recordRequestMetrics(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.recordHttpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
