/**
 * `npm run prompts -- <command>`: lifecycle of the Langfuse prompt `order-status-answer`.
 * Exit codes: 0 done, 1 failed (config, Langfuse, refused), 2 usage.
 * stdout carries only the command's result lines; diagnostics go to stderr.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LangfuseClient } from '@langfuse/client';
import type { Tracer } from '@opentelemetry/api';
import { ConfigError, loadEnvironment, parseSettings, type Settings } from '../../config/settings.js';
import { createLogger } from '../../logger.js';
import type { AnswerModel } from '../../model/answer-model.js';
import { LangfuseMetrics, MetricsApiError } from '../../quality/langfuse-metrics.js';
import { CompareError, comparePromptVersions, comparisonJson, formatComparison, parseDuration } from '../../quality/prompt-comparison.js';
import { promptVersions, readPromptFile } from '../local-prompt-source.js';
import { PROMPT_NAME } from '../prompt-template.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, PromptAdmin, PromptAdminError, type ShowSelector } from './prompt-admin.js';
import { isReleaseCommand, RELEASE_ADMIN_VARIABLES, runReleaseCommand, type ReleaseCommand } from './release-cli.js';

export const USAGE = `usage: npm run prompts -- <command> [options]

commands:
  seed                            create the versions of prompts/order-status-answer.json missing in
                                  Langfuse with their labels; add labels no version holds (idempotent;
                                  never moves a deployed label; refuses on divergence)
  list                            one line per version: order-status-answer v<N>  <labels>  <commit message>
  show [--label L | --version N]  one version's labels, config and messages (default: --label production)
  promote --version N --label L [--force --reason TEXT]
                                  move label L to version N: the version must use exactly the five
                                  template variables; labels in PROMPT_PROTECTED_LABELS (default
                                  production) move only when the release gate passes against the
                                  version holding them (--force with a reason overrides, recorded)
  rollback --label L [--reason TEXT]
                                  move label L to the highest version below the one holding it
                                  (never gated: the emergency path)
  dataset seed                    create the Langfuse dataset order-status-regression and upsert every
                                  item of RELEASE_DATASET_FILE by id (idempotent)
  eval (--version N | --label L) [--baseline-label production] [--run NAME] [--baseline-run NAME]
                                  run the dataset through the agent with the candidate and the
                                  baseline prompt versions; prints a table and, last, the gate JSON;
                                  exit 0 when the gate passes, 1 when it fails
  history [--label L]             label moves from PROMPT_RELEASE_LOG, newest first
  compare [--since 24h] [--labels a,b] [--environment E] [--min-votes 20] [--json]
                                  per version: generations, latency, tokens, cost, positive-feedback
                                  share with its 95% Wilson interval, answer_correctness, policy fails;
                                  with --labels a,b a last line \`verdict:\` (b against a: better, worse
                                  or no significant difference). Reads Langfuse's metrics API.

environment (.env is read, real environment wins):
  LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL (default http://localhost:3000),
  PROMPT_LOCAL_FILE (seed source, default prompts/order-status-answer.json), LOG_LEVEL,
  DEPLOYMENT_ENVIRONMENT (compare's default --environment, default development);
  release: PROMPT_PROTECTED_LABELS, PROMPT_RELEASE_LOG, PROMPT_RELEASE_ACTOR, RELEASE_DATASET_FILE,
  RELEASE_EVAL_CONCURRENCY, RELEASE_EVAL_ITEM_TIMEOUT_MS; eval and gated promotes run the agent
  with the service's own settings (OPENAI_*, OTEL_*, …: the offline model without OPENAI_API_KEY)
`;

/** The only variables this tool reads: unrelated service settings must not block prompt administration. */
export const CLI_VARIABLES = [
  'LANGFUSE_PUBLIC_KEY',
  'LANGFUSE_SECRET_KEY',
  'LANGFUSE_BASE_URL',
  'PROMPT_LOCAL_FILE',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'DEPLOYMENT_ENVIRONMENT',
  ...RELEASE_ADMIN_VARIABLES,
] as const;

/** Fewer positive/negative votes per label than this: compare says to wait for more. */
export const DEFAULT_MIN_VOTES = 20;

export type Command =
  | { name: 'seed' }
  | { name: 'list' }
  | { name: 'show'; selector: ShowSelector }
  | { name: 'compare'; since: string; sinceMs: number; labels?: [string, string]; environment?: string; minVotes: number; json: boolean }
  | ReleaseCommand;

class UsageError extends Error {}

export function parseCommand(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        label: { type: 'string' },
        version: { type: 'string' },
        since: { type: 'string' },
        labels: { type: 'string' },
        environment: { type: 'string' },
        'min-votes': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        // release gate (src/release/)
        force: { type: 'boolean' },
        reason: { type: 'string' },
        'baseline-label': { type: 'string' },
        run: { type: 'string' },
        'baseline-run': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  const expected = positionals[0] === 'dataset' ? 2 : 1;
  if (positionals.length !== expected) throw new UsageError(positionals.length === 0 ? 'missing command' : positionals.length < expected ? `${positionals[0]} needs a subcommand: dataset seed` : `unexpected arguments: ${positionals.slice(expected).join(' ')}`);
  const name = positionals.join(' ');
  const OPTIONS = ['label', 'version', 'since', 'labels', 'environment', 'min-votes', 'json', 'force', 'reason', 'baseline-label', 'run', 'baseline-run'] as const;
  const only = (...allowed: (typeof OPTIONS)[number][]): void => {
    for (const option of OPTIONS) {
      if (values[option] !== undefined && !allowed.includes(option)) throw new UsageError(`${name} does not take --${option}`);
    }
  };
  const version = (): number => {
    const raw = values.version ?? '';
    if (!/^[1-9]\d{0,8}$/.test(raw)) throw new UsageError(`--version must be a positive integer, got '${raw}'`);
    return Number(raw);
  };
  const label = (): string => {
    if (!values.label) throw new UsageError(`${name} needs --label`);
    return values.label;
  };
  switch (name) {
    case 'seed':
    case 'list':
      only();
      return { name };
    case 'show':
      only('label', 'version');
      if (values.label !== undefined && values.version !== undefined) throw new UsageError('show takes --label or --version, not both');
      return { name, selector: values.version !== undefined ? { version: version() } : { label: values.label === undefined ? 'production' : label() } };
    case 'promote': {
      only('label', 'version', 'force', 'reason');
      if (values.version === undefined) throw new UsageError('promote needs --version');
      const force = values.force === true;
      if (force && !values.reason?.trim()) throw new UsageError('--force needs a non-empty --reason (who forced a release, and why, is recorded)');
      return { name, version: version(), label: label(), force, reason: values.reason?.trim() ?? '' };
    }
    case 'rollback':
      only('label', 'reason');
      return { name, label: label(), reason: values.reason?.trim() ?? '' };
    case 'dataset seed':
      only();
      return { name: 'dataset-seed' };
    case 'eval': {
      only('label', 'version', 'baseline-label', 'run', 'baseline-run');
      if ((values.label === undefined) === (values.version === undefined)) throw new UsageError('eval takes --version N or --label L (one of them)');
      const runName = (option: 'run' | 'baseline-run'): string | undefined => {
        const raw = values[option];
        if (raw !== undefined && !/^[\w.:-][\w .:-]{0,199}$/.test(raw)) throw new UsageError(`--${option} must be 1-200 letters, digits, spaces or _ . : -`);
        return raw;
      };
      const candidateRun = runName('run');
      const baselineRun = runName('baseline-run');
      return {
        name,
        candidate: values.version !== undefined ? { version: version() } : { label: label() },
        baselineLabel: values['baseline-label'] ?? 'production',
        ...(candidateRun ? { candidateRun } : {}),
        ...(baselineRun ? { baselineRun } : {}),
      };
    }
    case 'history':
      only('label');
      return { name, ...(values.label !== undefined ? { label: label() } : {}) };
    case 'compare': {
      only('since', 'labels', 'environment', 'min-votes', 'json');
      const since = values.since ?? '24h';
      const sinceMs = parseDuration(since);
      if (sinceMs === undefined) throw new UsageError(`--since must look like 30m, 24h, 7d or 2w, got '${since}'`);
      let labels: [string, string] | undefined;
      if (values.labels !== undefined) {
        const parts = values.labels.split(',').map((l) => l.trim());
        if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`--labels takes two labels, baseline first: --labels prod-a,prod-b (got '${values.labels}')`);
        labels = [parts[0], parts[1]];
      }
      const minVotesRaw = values['min-votes'] ?? String(DEFAULT_MIN_VOTES);
      if (!/^\d{1,6}$/.test(minVotesRaw)) throw new UsageError(`--min-votes must be a whole number, got '${minVotesRaw}'`);
      return {
        name,
        since,
        sinceMs,
        ...(labels ? { labels } : {}),
        ...(values.environment !== undefined ? { environment: values.environment } : {}),
        minVotes: Number(minVotesRaw),
        json: values.json === true,
      };
    }
    default:
      throw new UsageError(`unknown command '${String(name)}'`);
  }
}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Per-request bound; default DEFAULT_REQUEST_TIMEOUT_MS (tests shorten it). */
  requestTimeoutMs?: number;
  /** Ctrl-C: the release commands stop and move nothing. */
  signal?: AbortSignal;
  /** In-process tests: their tracer instead of a new global OpenTelemetry SDK. */
  tracer?: Tracer;
  /** In-process tests: the model instead of the configured one. */
  model?: AnswerModel;
}

/** Runs one command; resolves with the exit code (never throws). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const fail = (message: string, code: number): number => {
    io.stderr.write(`${message}\n`);
    return code;
  };

  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return fail(error.message ? `${error.message}\n\n${USAGE}` : USAGE, 2);
  }

  if (isReleaseCommand(command)) return runReleaseCommand(command, io);

  let settings: Settings;
  try {
    const env = loadEnvironment(io.env);
    settings = parseSettings(Object.fromEntries(CLI_VARIABLES.map((k) => [k, env[k]])));
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message, 1);
    throw error;
  }
  const { publicKey, secretKey, baseUrl } = settings.langfuse;
  if (!publicKey || !secretKey) {
    return fail('LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY must both be set (environment or .env) to manage prompts in Langfuse.', 1);
  }

  const logger = createLogger(settings.service.logLevel, io.stderr, { format: settings.service.logFormat, environment: settings.service.environment });
  const client = new LangfuseClient({ publicKey, secretKey, baseUrl });
  const admin = new PromptAdmin({
    client,
    name: PROMPT_NAME,
    baseUrl,
    requestTimeoutMs: io.requestTimeoutMs,
    logger,
  });

  try {
    const lines =
      command.name === 'compare'
        ? await compare(admin, new LangfuseMetrics(client, { baseUrl, timeoutMs: io.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS }), command, settings.service.environment)
        : await execute(admin, command, settings.prompts.localFile);
    for (const line of lines) io.stdout.write(`${line}\n`);
    return 0;
  } catch (error) {
    if (error instanceof PromptAdminError || error instanceof MetricsApiError || error instanceof CompareError) return fail(error.message, 1);
    // A bug, not an operator problem: keep the stack, in the log only.
    logger.error({ err: error, command: command.name }, 'prompts command failed unexpectedly');
    return fail(`${command.name} failed: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
}

async function compare(admin: PromptAdmin, metrics: LangfuseMetrics, command: Extract<Command, { name: 'compare' }>, defaultEnvironment: string): Promise<string[]> {
  const to = new Date();
  const comparison = await comparePromptVersions(
    metrics,
    { labelsOf: (versions) => admin.labelsOf(versions), versionOf: (label) => admin.versionOf(label) },
    {
      promptName: PROMPT_NAME,
      environment: command.environment ?? defaultEnvironment,
      from: new Date(to.getTime() - command.sinceMs),
      to,
      minVotes: command.minVotes,
      ...(command.labels ? { labels: command.labels } : {}),
    },
  );
  return command.json ? [JSON.stringify(comparisonJson(comparison), null, 2)] : formatComparison(comparison);
}

function execute(admin: PromptAdmin, command: Exclude<Command, ReleaseCommand | { name: 'compare' }>, localFile: string): Promise<string[]> {
  switch (command.name) {
    case 'seed': {
      let versions;
      try {
        versions = promptVersions(readPromptFile(resolve(localFile)));
      } catch (error) {
        throw new PromptAdminError(error instanceof Error ? error.message : String(error));
      }
      return admin.seed(versions);
    }
    case 'list':
      return admin.list();
    case 'show':
      return admin.show(command.selector);
  }
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(resolve(entry)).href) {
  // `npm run prompts -- list | head -1` closes stdout early: that is not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  // Ctrl-C (npm forwards it too, a moment later): stop the evaluation, move nothing, flush spans.
  const interrupt = new AbortController();
  const firstSignalAt: { at?: number } = {};
  const onSignal = (): void => {
    if (firstSignalAt.at === undefined) {
      firstSignalAt.at = Date.now();
      interrupt.abort();
    } else if (Date.now() - firstSignalAt.at > 1_000) process.exit(130);
  };
  // Only the commands that run the gate stop gracefully; the others keep the default (exit at once).
  if (process.argv[2] === 'eval' || process.argv[2] === 'promote') {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const code = await run(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, signal: interrupt.signal });
  process.exitCode = code;
  // Everything is written and flushed by now. @langfuse/core clears its per-request timer only when
  // fetch resolves, so after a failed request (Langfuse unreachable) that timer would hold the
  // process for the whole request timeout: do not wait for it.
  setTimeout(() => process.exit(code), 200).unref();
}
