import { ConfigError, loadSettings, type Settings } from './config/settings.js';
import { systemClock } from './clock.js';
import { announceFleet, createFleet } from './fleet/fleet.js';
import { buildApp } from './http/app.js';
import { createLogger } from './logger.js';
import { PROMPT_NAME, DEFAULT_PROMPT_LABEL } from './prompts/prompt-template.js';
import { PriceCatalog } from './model/price-catalog.js';
import { announceDefaults, createPromptSnapshot, createRuntime } from './runtime.js';
import { createHttpInstrumentation } from './telemetry/http-instrumentation.js';
import { startTelemetry } from './telemetry/tracing.js';

/** A signal within this long of the first is the same stop request (npm relaying the group's signal). */
const REPEAT_SIGNAL_WINDOW_MS = 1_000;

/** Owns the process: config, telemetry, listen, signals, graceful drain. */
async function main(): Promise<void> {
  let settings: Settings;
  let prices: PriceCatalog;
  try {
    settings = loadSettings();
    prices = PriceCatalog.load(settings.cost.pricesFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }

  const logger = createLogger(settings.service.logLevel, process.stdout, {
    format: settings.service.logFormat,
    environment: settings.service.environment,
  });
  const telemetry = startTelemetry(settings, logger);
  announceDefaults(settings, logger);
  announceFleet(settings, logger);
  const runtime = createRuntime(settings, logger, telemetry.tracer, { prices, promptSnapshot: createPromptSnapshot(settings, logger) });
  // Redis (when configured) connects in the background: start-up never waits on it.
  const fleet = createFleet({ settings, prompts: runtime.prompts, logger, clock: systemClock });

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
    quality: runtime.quality,
    settings,
    logger,
    httpInstrumentation: telemetry.enabled ? createHttpInstrumentation() : undefined,
    fleet,
    rateLimitStore: fleet.rateLimitStore,
    metrics: runtime.metrics,
  });
  // A deep accept backlog: bursts of thousands of connects otherwise wait on SYN retries.
  await app.listen({ host: settings.service.host, port: settings.service.port, backlog: 4096 });

  let stopRequestedAt: number | undefined;
  const stop = async (signal: string) => {
    if (stopRequestedAt !== undefined) {
      // `npm start` forwards the signal its process group already delivered (systemd, Ctrl-C):
      // the same request to stop, a few ms later. Only a deliberate later signal forces the exit.
      if (Date.now() - stopRequestedAt < REPEAT_SIGNAL_WINDOW_MS) {
        logger.debug({ signal }, 'repeated stop signal ignored: already draining');
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopRequestedAt = Date.now();
    logger.info({ signal, graceMs: settings.service.shutdownGraceMs }, 'draining: no new requests, finishing in-flight ones');
    const deadline = setTimeout(() => {
      logger.error('drain deadline passed: exiting');
      process.exit(1);
    }, settings.service.shutdownGraceMs);
    deadline.unref();
    const deadlineAt = Date.now() + settings.service.shutdownGraceMs;
    runtime.prompts.stop();
    await app.close();
    await fleet.close().catch((error: unknown) => logger.warn({ err: error }, 'Redis close failed'));
    await runtime.prompts.flushSnapshot();
    // Queued scores, spans and metrics flush side by side, scores within the grace period (a margin left for the exit).
    const [scores] = await Promise.all([
      runtime.scores.close(deadlineAt - Math.min(1_000, settings.service.shutdownGraceMs / 10)),
      telemetry.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'span/metric flush failed')),
    ]);
    logger.info({ scores }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
}

await main();
