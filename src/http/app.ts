import type { FastifyOtelInstrumentation } from '@fastify/otel';
import helmet from '@fastify/helmet';
import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { fastifySSE } from '@fastify/sse';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { OrderStatusAgent } from '../agent/order-status-agent.js';
import { systemClock, type Clock } from '../clock.js';
import type { Settings } from '../config/settings.js';
import { createLocalFleet, type Fleet } from '../fleet/fleet.js';
import type { PromptResolver } from '../prompts/prompt-resolver.js';
import { ServiceMetrics } from '../telemetry/metrics.js';
import type { QualitySignals } from '../quality/quality-signals.js';
import { PROMPT_NAME } from '../prompts/prompt-template.js';
import { bearerAuth, rateLimitKey } from './auth.js';
import { registerErrorHandler } from './error-handler.js';
import { healthRoutes } from './routes/health.js';
import { langfuseWebhookRoutes } from './routes/langfuse-webhook.js';
import { closeConnectionsWhileDraining, limitInFlight } from './overload.js';
import { recordRequestMetrics } from './request-metrics.js';
import { orderStatusRoutes } from './routes/order-status.js';
import { orderStatusStreamRoutes } from './routes/order-status-stream.js';
import { qualityRoutes } from './routes/quality.js';

export interface AppDeps {
  agent: OrderStatusAgent;
  prompts: PromptResolver;
  /** Interaction ids, feedback, signals and scores (SPEC §9). */
  quality: QualitySignals;
  settings: Settings;
  logger: Logger;
  /** HTTP tracing; absent when tracing is disabled. */
  httpInstrumentation?: FastifyOtelInstrumentation;
  /** `http.server.request.duration` (default: the global MeterProvider's instruments). */
  metrics?: ServiceMetrics;
  /** Webhook signature window. Default: the system clock. */
  clock?: Clock;
  /** Prompt-change fan-out and webhook de-duplication (src/fleet/). Default: this process only. */
  fleet?: Pick<Fleet, 'promptChanged' | 'deliveries'>;
  /** Per-user rate-limit counters (e.g. shared through Redis). Default: in this process. */
  rateLimitStore?: FastifyRateLimitStoreCtor;
}

/** The HTTP app, ready for `inject()` in tests or `listen()` in server.ts. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 16 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    requestIdHeader: false,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: anything else is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  registerErrorHandler(app);
  recordRequestMetrics(app, deps.metrics ?? ServiceMetrics.fromGlobal(settings.service.agentVersion));
  if (deps.httpInstrumentation) await app.register(deps.httpInstrumentation.plugin());
  closeConnectionsWhileDraining(app);
  // Security headers; the CSP is relaxed only for the docs UI's inline assets.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Order-status agent', version: settings.service.agentVersion },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(settings.service.apiKeys.length > 0 ? { security: [{ bearer: [] }] } : {}),
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Server-sent events framing and flow control for the streaming route.
  await app.register(fastifySSE);

  await app.register(healthRoutes, {
    prompts: deps.prompts,
    requiredLabels: settings.prompts.experiment.map((arm) => arm.label),
  });
  // Outside the bearer-key scope: the signature authenticates Langfuse.
  if (settings.fleet.webhookSecret) {
    await app.register(langfuseWebhookRoutes, {
      secret: settings.fleet.webhookSecret,
      promptName: PROMPT_NAME,
      clock: deps.clock ?? systemClock,
      fleet: deps.fleet ?? createLocalFleet(deps.prompts, deps.logger, deps.clock ?? systemClock),
    });
  }
  await app.register(async (api) => {
    limitInFlight(api, settings.service.maxConcurrentRequests);
    if (settings.service.apiKeys.length > 0) api.addHook('onRequest', bearerAuth(settings.service.apiKeys));
    if (settings.service.rateLimitPerUserPerMinute > 0) {
      // After validation (preHandler): the bucket is the validated user_id (auth.ts).
      await api.register(rateLimit, {
        max: settings.service.rateLimitPerUserPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: rateLimitKey,
        // One bucket per active user: room for many more than the plugin's default 5,000.
        cache: 100_000,
        ...(deps.rateLimitStore ? { store: deps.rateLimitStore } : {}),
      });
    }
    const routeOptions = {
      agent: deps.agent,
      quality: deps.quality,
      experiment: settings.prompts.experiment,
      overridableLabels: settings.prompts.overridableLabels,
      agentVersion: settings.service.agentVersion,
      environment: settings.service.environment,
      streamTokenCoalesceMs: settings.service.streamTokenCoalesceMs,
    };
    // Same scope, so the same bearer auth, per-user rate limit and in-flight limit for all of them.
    await api.register(orderStatusRoutes, routeOptions);
    await api.register(orderStatusStreamRoutes, routeOptions);
    await api.register(qualityRoutes, { quality: deps.quality });
  });
  return app;
}
