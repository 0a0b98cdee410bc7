import { ConfigError, loadSettings, type Settings } from './config/settings.js';
import { buildApp } from './http/app.js';
import { createLogger } from './logger.js';
import { PROMPT_NAME, DEFAULT_PROMPT_LABEL } from './prompts/prompt-template.js';
import { announceDefaults, createRuntime, type Runtime } from './runtime.js';
import { createHttpInstrumentation } from './telemetry/http-instrumentation.js';
import { startTelemetry } from './telemetry/tracing.js';

/** Owns the process: config, telemetry, listen, signals, graceful drain. */
async function main(): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }

  const logger = createLogger(settings.service.logLevel);
  const telemetry = startTelemetry(settings, logger);
  announceDefaults(settings, logger);
  let runtime: Runtime;
  try {
    runtime = createRuntime(settings, logger, telemetry.tracer);
  } catch (error) {
    // e.g. an invalid model price catalog (MODEL_PRICES_FILE): stop with the message, like bad env.
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      await telemetry.shutdown().catch(() => undefined);
      process.exit(78);
    }
    throw error;
  }

  // Warm the prompt cache; a Langfuse outage here is retried in the background, not fatal.
  const labels = [DEFAULT_PROMPT_LABEL, ...settings.prompts.experiment.map((arm) => arm.label)];
  await runtime.prompts.warm(labels);
  runtime.prompts.startBackgroundRefresh();
  for (const label of labels) {
    if (!runtime.prompts.isResolvable(label)) logger.warn({ prompt: PROMPT_NAME, label }, 'prompt not available yet; /readyz reports 503 until it is');
  }

  const app = await buildApp({
    agent: runtime.agent,
    prompts: runtime.prompts,
    settings,
    logger,
    httpInstrumentation: telemetry.enabled ? createHttpInstrumentation() : undefined,
    metrics: runtime.metrics,
  });
  // A deep accept backlog: bursts of thousands of connects otherwise wait on SYN retries.
  await app.listen({ host: settings.service.host, port: settings.service.port, backlog: 4096 });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs: settings.service.shutdownGraceMs }, 'draining: no new requests, finishing in-flight ones');
    const deadline = setTimeout(() => {
      logger.error('drain deadline passed: exiting');
      process.exit(1);
    }, settings.service.shutdownGraceMs);
    deadline.unref();
    runtime.prompts.stop();
    await app.close();
    await telemetry.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'span/metric flush failed'));
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
}

await main();
