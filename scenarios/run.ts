import { ConfigError, loadSettings } from '../src/config/settings.js';
import { createLogger } from '../src/logger.js';
import { FaultInjectingModel } from '../src/model/fault-injection.js';
import { PriceCatalog } from '../src/model/price-catalog.js';
import { announceDefaults, createModel, createRuntime } from '../src/runtime.js';
import { startTelemetry } from '../src/telemetry/tracing.js';
import { SCENARIOS, SEED_ORDER } from './registry.js';
import type { Scenario } from './scenario.js';

/** How long the scores may take to reach Langfuse before the run counts as failed. */
const SCORE_FLUSH_MS = 15_000;

/**
 * `npm run scenario -- <name|all>`: stdout carries only the scenario's result
 * lines; logs go to stderr; spans are flushed before exit; non-zero on failure.
 */
async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  const selected: [string, Scenario][] =
    name === 'all'
      ? SEED_ORDER.map((n) => [n, SCENARIOS[n] as Scenario])
      : name && Object.hasOwn(SCENARIOS, name)
        ? [[name, SCENARIOS[name] as Scenario]]
        : [];
  if (selected.length === 0) {
    process.stderr.write(`usage: npm run scenario -- <${[...SEED_ORDER, 'all'].join(' | ')}>\n`);
    return 2;
  }

  let settings;
  let prices;
  try {
    settings = loadSettings();
    prices = PriceCatalog.load(settings.cost.pricesFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const logger = createLogger(settings.service.logLevel === 'info' ? 'warn' : settings.service.logLevel, process.stderr, {
    format: settings.service.logFormat,
    environment: settings.service.environment,
  });
  const telemetry = startTelemetry(settings, logger);
  announceDefaults(settings, logger);
  // The model seam with fault injection in front (retry, fallback); the fallback scenario uses the
  // configured model as the fallback when OPENAI_FALLBACK_MODEL is unset (SPEC §6).
  const faults = new FaultInjectingModel(createModel(settings));
  const scenarioSettings = { ...settings, openai: { ...settings.openai, fallbackModel: settings.openai.fallbackModel ?? settings.openai.model } };
  const runtime = createRuntime(scenarioSettings, logger, telemetry.tracer, { prices, model: faults });
  const ctx = {
    agent: runtime.agent,
    prompts: runtime.prompts,
    quality: runtime.quality,
    faults,
    maxRetries: settings.openai.maxRetries,
    tracer: telemetry.tracer,
    agentVersion: settings.service.agentVersion,
    environment: settings.service.environment,
    print: (line: string) => process.stdout.write(`${line}\n`),
  };

  // Stops at the first failure (SPEC §6).
  let code = 0;
  for (const [scenarioName, scenario] of selected) {
    try {
      await scenario(ctx);
    } catch (error) {
      logger.error({ scenario: scenarioName, err: error }, 'scenario failed');
      code = 1;
      break;
    }
  }
  // Spans and metrics wait in the SDK (batch processor, periodic reader) and scores in the sink's queue:
  // flush them all before the process ends.
  const [scores] = await Promise.all([
    runtime.scores.close(Date.now() + SCORE_FLUSH_MS),
    telemetry.shutdown().catch((error: unknown) => {
      logger.error({ err: error }, 'span export failed at shutdown');
      code = code || 1;
    }),
  ]);
  if (scores.lost + scores.rejected + scores.dropped > 0) {
    logger.error({ scores }, 'scores could not be delivered to Langfuse');
    code = code || 1;
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
