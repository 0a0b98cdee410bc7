/**
 * The release commands of `npm run prompts` (SPEC §10): settings → dependencies → src/release/.
 * Kept apart from prompts-cli.ts so that file stays a parser and a dispatcher.
 */
import { LangfuseClient } from '@langfuse/client';
import { trace } from '@opentelemetry/api';
import { ConfigError, loadEnvironment, parseSettings, type Settings } from '../../config/settings.js';
import { createLogger } from '../../logger.js';
import { createPromptSource, createScoreSink } from '../../runtime.js';
import { DatasetFileError, loadDataset } from '../../release/dataset.js';
import { ExperimentAborted } from '../../release/experiment-runner.js';
import { LangfuseDatasets } from '../../release/langfuse-datasets.js';
import type { MeteredCall } from '../../release/metered-model.js';
import {
  evaluateCommand,
  historyCommand,
  promoteCommand,
  ReleaseError,
  rollbackCommand,
  seedDataset,
  type CandidateSelector,
  type ReleaseDeps,
} from '../../release/release-commands.js';
import { startTelemetry, TRACER_NAME } from '../../telemetry/tracing.js';
import { PriceCatalog } from '../../model/price-catalog.js';
import { LangfusePromptSource } from '../langfuse-prompt-source.js';
import { PROMPT_NAME } from '../prompt-template.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, PromptAdmin, PromptAdminError } from './prompt-admin.js';
import type { CliIo } from './prompts-cli.js';

export type ReleaseCommand =
  | { name: 'promote'; version: number; label: string; force: boolean; reason: string }
  | { name: 'rollback'; label: string; reason: string }
  | { name: 'dataset-seed' }
  | { name: 'eval'; candidate: CandidateSelector; baselineLabel: string; candidateRun?: string; baselineRun?: string }
  | { name: 'history'; label?: string };

const RELEASE_COMMANDS: ReadonlySet<string> = new Set(['promote', 'rollback', 'dataset-seed', 'eval', 'history']);

export function isReleaseCommand(command: { name: string }): command is ReleaseCommand {
  return RELEASE_COMMANDS.has(command.name);
}

/** What moving labels and auditing needs besides the Langfuse keys (the audit trace goes over OTLP). */
export const RELEASE_ADMIN_VARIABLES = [
  'PROMPT_PROTECTED_LABELS',
  'PROMPT_RELEASE_LOG',
  'PROMPT_RELEASE_ACTOR',
  'RELEASE_DATASET_FILE',
  'PROMPT_FETCH_TIMEOUT_MS',
  'AGENT_VERSION',
  'OTEL_SDK_DISABLED',
  'OTEL_SERVICE_NAME',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_BSP_MAX_QUEUE_SIZE',
  'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  'OTEL_BSP_EXPORT_TIMEOUT',
] as const;

const ADMIN_VARIABLES = ['LANGFUSE_PUBLIC_KEY', 'LANGFUSE_SECRET_KEY', 'LANGFUSE_BASE_URL', 'PROMPT_LOCAL_FILE', 'LOG_LEVEL', 'LOG_FORMAT', 'DEPLOYMENT_ENVIRONMENT', ...RELEASE_ADMIN_VARIABLES];

/**
 * Commands that run the agent (eval, a promote to a protected label) read the service's whole
 * configuration — the evaluation runs with the settings the service runs with; the others read
 * only what they use, so unrelated settings never block an emergency rollback.
 */
function loadReleaseSettings(command: ReleaseCommand, env: Record<string, string | undefined>): Settings {
  const admin = parseSettings(Object.fromEntries(ADMIN_VARIABLES.map((k) => [k, env[k]])));
  const runsAgent = command.name === 'eval' || (command.name === 'promote' && admin.release.protectedLabels.includes(command.label));
  return runsAgent ? parseSettings(env) : admin;
}

/** The gate's cost of one model call: the price catalog's, as the model span's `app.cost.amount`. */
function catalogPricer(prices: PriceCatalog): (call: MeteredCall) => number | undefined {
  return (call) => (call.usage ? prices.price([call.requestModel, call.responseModel], call.usage)?.total : undefined);
}

/** Runs one release command; resolves with the exit code (never throws). */
export async function runReleaseCommand(command: ReleaseCommand, io: CliIo): Promise<number> {
  const fail = (message: string, code = 1): number => {
    io.stderr.write(`${message}\n`);
    return code;
  };
  let settings: Settings;
  try {
    settings = loadReleaseSettings(command, loadEnvironment(io.env));
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  const logger = createLogger(settings.service.logLevel, io.stderr, { format: settings.service.logFormat, environment: settings.service.environment });
  const print = (line: string): void => void io.stdout.write(`${line}\n`);

  let prices: PriceCatalog | undefined;
  try {
    // A malformed dataset (or price catalog) stops the command before anything is sent anywhere.
    const gated = command.name === 'eval' || command.name === 'dataset-seed' || (command.name === 'promote' && settings.release.protectedLabels.includes(command.label));
    if (gated) loadDataset(settings.release.datasetFile);
    // Only the gate prices model calls: a broken catalog never blocks a rollback.
    if (command.name === 'eval' || command.name === 'promote') prices = PriceCatalog.load(settings.cost.pricesFile);
  } catch (error) {
    if (error instanceof DatasetFileError || error instanceof ConfigError) return fail(error.message);
    throw error;
  }

  // Only commands that run the agent or move a label emit spans.
  const traced = command.name === 'eval' || command.name === 'promote' || command.name === 'rollback';
  const telemetry = io.tracer || !traced ? undefined : startTelemetry(settings, logger);
  // Without telemetry (history, dataset seed) the global no-op tracer: nothing is recorded.
  const tracer = io.tracer ?? telemetry?.tracer ?? trace.getTracer(TRACER_NAME);
  const { publicKey, secretKey, baseUrl } = settings.langfuse;
  const timeoutMs = io.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

  const client = publicKey && secretKey ? new LangfuseClient({ publicKey, secretKey, baseUrl }) : undefined;
  const deps: ReleaseDeps = {
    settings,
    logger,
    tracer,
    print,
    signal: io.signal ?? new AbortController().signal,
    ...(client
      ? {
          langfuse: {
            admin: new PromptAdmin({ client, name: PROMPT_NAME, baseUrl, requestTimeoutMs: timeoutMs, logger }),
            datasets: new LangfuseDatasets(client, { baseUrl, timeoutMs, logger }),
          },
        }
      : {}),
    // Labels live in Langfuse: a promote evaluates Langfuse's versions even when the service reads the local file.
    promptSource:
      command.name === 'promote' && publicKey && secretKey
        ? new LangfusePromptSource({ publicKey, secretKey, baseUrl, fetchTimeoutMs: settings.prompts.fetchTimeoutMs })
        : createPromptSource(settings),
    ...(io.model ? { model: io.model } : {}),
    ...(prices ? { prices } : {}),
    priceCall: prices ? catalogPricer(prices) : () => undefined,
    // The service's score sink (bounded queue, background delivery with retries): evaluator scores.
    scoreSink: createScoreSink(settings, logger),
  };

  try {
    switch (command.name) {
      case 'history':
        return historyCommand(deps, command.label !== undefined ? { label: command.label } : {});
      case 'dataset-seed':
        return await seedDataset(deps);
      case 'eval':
        return await evaluateCommand(deps, command);
      case 'promote':
        return await promoteCommand(deps, command);
      case 'rollback':
        return await rollbackCommand(deps, command);
      default:
        return fail(`unknown release command ${JSON.stringify(command satisfies never)}`, 2);
    }
  } catch (error) {
    if (error instanceof ExperimentAborted) return fail('interrupted: the evaluation stopped and no label was moved', 130);
    if (error instanceof ReleaseError || error instanceof PromptAdminError || error instanceof DatasetFileError) return fail(error.message);
    logger.error({ err: error, command: command.name }, 'prompts command failed unexpectedly');
    return fail(`${command.name} failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    // Scores still queued get the shutdown grace period; then spans (experiment traces, the audit).
    const scores = await deps.scoreSink.close(Date.now() + settings.service.shutdownGraceMs);
    if (scores.lost + scores.dropped + scores.rejected > 0) logger.warn({ ...scores }, 'some evaluator scores did not reach Langfuse');
    // Spans (experiment traces, the release audit) wait in the batch processor: flush before exiting.
    await telemetry?.shutdown().catch((error: unknown) => logger.error({ err: error }, 'span export failed at shutdown'));
    if (telemetry && telemetry.stats.exportedSpans < telemetry.stats.endedSpans) {
      // The gate's verdict stands, but Langfuse will lack the traces its runs, scores and audit point at.
      logger.warn(
        { ...telemetry.stats, endpoint: settings.telemetry.tracesEndpoint },
        'not every span reached the Collector: the experiment traces (and the prompt-release audit trace) may be missing in Langfuse; the release log line is written either way',
      );
    }
  }
}
