import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { onTestFinished } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { parseSettings, type Settings } from '../../src/config/settings.js';
import { buildApp, type AppDeps } from '../../src/http/app.js';
import type { AnswerModel } from '../../src/model/answer-model.js';
import type { PromptSource } from '../../src/prompts/prompt-source.js';
import type { ServiceMetrics } from '../../src/telemetry/metrics.js';
import type { ScoreSink } from '../../src/quality/score-sink.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createHttpInstrumentation } from '../../src/telemetry/http-instrumentation.js';
import { testTracing } from './telemetry.js';

export const silentLogger = pino({ level: 'silent' });

export function testSettings(env: Record<string, string | undefined> = {}): Settings {
  return parseSettings({ OTEL_SDK_DISABLED: 'false', PROMPT_LOCAL_FILE: 'prompts/order-status-answer.json', ...env });
}

export interface TestService {
  app: FastifyInstance;
  runtime: Runtime;
  settings: Settings;
}

/**
 * fastify/demo's `build(t)`: a fresh runtime + app per test (fresh graph,
 * fresh prompt cache), closed after the test.
 */
export async function build(
  options: {
    env?: Record<string, string | undefined>;
    promptSource?: PromptSource;
    model?: AnswerModel;
    clock?: Clock;
    warm?: boolean;
    /** Metric instruments to record on (test/support/metrics.ts); default: no-op. */
    metrics?: ServiceMetrics;
    /** Default: what the settings give (a discarding sink in local mode, the Langfuse sink with keys). */
    scoreSink?: ScoreSink;
    /** App deps of the fleet feature (src/fleet/): prompt-change fan-out, webhook de-duplication, rate-limit store. */
    app?: (runtime: Runtime, settings: Settings) => Pick<AppDeps, 'fleet' | 'rateLimitStore'>;
    /** Default: silent. */
    logger?: Logger;
  } = {},
): Promise<TestService> {
  const { tracer, provider } = testTracing();
  const settings = testSettings(options.env);
  const logger = options.logger ?? silentLogger;
  const runtime = createRuntime(settings, logger, tracer, {
    promptSource: options.promptSource,
    model: options.model,
    clock: options.clock,
    metrics: options.metrics,
    scoreSink: options.scoreSink,
  });
  if (options.warm !== false) await runtime.prompts.warm(['production']);
  const app = await buildApp({
    agent: runtime.agent,
    prompts: runtime.prompts,
    quality: runtime.quality,
    settings,
    logger,
    httpInstrumentation: createHttpInstrumentation(provider),
    metrics: runtime.metrics,
    clock: options.clock,
    ...options.app?.(runtime, settings),
  });
  onTestFinished(async () => {
    runtime.prompts.stop();
    await app.close();
    await runtime.scores.close(Date.now());
  });
  return { app, runtime, settings };
}
