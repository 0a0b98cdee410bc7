import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { onTestFinished } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { parseSettings, type Settings } from '../../src/config/settings.js';
import { buildApp } from '../../src/http/app.js';
import type { AnswerModel } from '../../src/model/answer-model.js';
import type { PromptSource } from '../../src/prompts/prompt-source.js';
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
  options: { env?: Record<string, string | undefined>; promptSource?: PromptSource; model?: AnswerModel; clock?: Clock; warm?: boolean; logger?: Logger } = {},
): Promise<TestService> {
  const { tracer, provider } = testTracing();
  const settings = testSettings(options.env);
  const logger = options.logger ?? silentLogger;
  const runtime = createRuntime(settings, logger, tracer, {
    promptSource: options.promptSource,
    model: options.model,
    clock: options.clock,
  });
  if (options.warm !== false) await runtime.prompts.warm(['production']);
  const app = await buildApp({
    agent: runtime.agent,
    prompts: runtime.prompts,
    settings,
    logger,
    httpInstrumentation: createHttpInstrumentation(provider),
  });
  onTestFinished(async () => {
    runtime.prompts.stop();
    await app.close();
  });
  return { app, runtime, settings };
}
