import { ConfigError, loadSettings } from '../src/config/settings.js';
import { createLogger } from '../src/logger.js';
import { PriceCatalog } from '../src/model/price-catalog.js';
import { announceDefaults, createRuntime } from '../src/runtime.js';
import { startTelemetry } from '../src/telemetry/tracing.js';
import { SCENARIOS as PROMPT_SCENARIOS, type Scenario } from './prompt-scenarios.js';
import { QUALITY_SCENARIOS } from './quality-scenarios.js';

/** In the seed's order (SPEC §6): the quality scenarios come before the prompt ones. */
const SCENARIOS: Readonly<Record<string, Scenario>> = { ...QUALITY_SCENARIOS, ...PROMPT_SCENARIOS };

/** How long the scores may take to reach Langfuse before the run counts as failed. */
const SCORE_FLUSH_MS = 15_000;

/**
 * `npm run scenario -- <name|all>`: stdout carries only the scenario's result
 * lines; logs go to stderr; spans are flushed before exit; non-zero on failure.
 */
async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  const selected: [string, Scenario][] =
    name === 'all' ? Object.entries(SCENARIOS) : name && SCENARIOS[name] ? [[name, SCENARIOS[name]]] : [];
  if (selected.length === 0) {
    process.stderr.write(`usage: npm run scenario -- <${[...Object.keys(SCENARIOS), 'all'].join(' | ')}>\n`);
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
  const runtime = createRuntime(settings, logger, telemetry.tracer, { prices });
  const ctx = {
    agent: runtime.agent,
    prompts: runtime.prompts,
    quality: runtime.quality,
    agentVersion: settings.service.agentVersion,
    environment: settings.service.environment,
    print: (line: string) => process.stdout.write(`${line}\n`),
  };

  let code = 0;
  for (const [scenarioName, scenario] of selected) {
    try {
      await scenario(ctx);
    } catch (error) {
      logger.error({ scenario: scenarioName, err: error }, 'scenario failed');
      code = 1;
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
