import { ConfigError, loadSettings } from '../src/config/settings.js';
import { createLogger } from '../src/logger.js';
import { FaultInjectingModel } from '../src/model/fault-injection.js';
import { announceDefaults, createModel, createRuntime } from '../src/runtime.js';
import { startTelemetry } from '../src/telemetry/tracing.js';
import { SCENARIOS, SEED_ORDER } from './registry.js';
import type { Scenario } from './scenario.js';

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
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const logger = createLogger(settings.service.logLevel === 'info' ? 'warn' : settings.service.logLevel, process.stderr);
  const telemetry = startTelemetry(settings, logger);
  announceDefaults(settings, logger);
  // The model seam with fault injection in front (retry, fallback); the fallback scenario uses the
  // configured model as the fallback when OPENAI_FALLBACK_MODEL is unset (SPEC §6).
  const faults = new FaultInjectingModel(createModel(settings));
  const scenarioSettings = { ...settings, openai: { ...settings.openai, fallbackModel: settings.openai.fallbackModel ?? settings.openai.model } };
  const runtime = createRuntime(scenarioSettings, logger, telemetry.tracer, { model: faults });
  const ctx = {
    agent: runtime.agent,
    prompts: runtime.prompts,
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
  // Spans wait in the batch processor: flush them before the process ends.
  await telemetry.shutdown().catch((error: unknown) => {
    logger.error({ err: error }, 'span export failed at shutdown');
    code = code || 1;
  });
  return code;
}

process.exitCode = await main(process.argv.slice(2));
