import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings.js';
import type { AnswerModel } from '../model/answer-model.js';
import type { PriceCatalog } from '../model/price-catalog.js';
import { DisabledScoreSink, type ScoreSink } from '../quality/score-sink.js';
import type { PromptAdmin } from '../prompts/cli/prompt-admin.js';
import { PinnedPromptSource } from '../prompts/pinned-prompt-source.js';
import { PromptNotFoundError, type VersionedPromptSource } from '../prompts/prompt-source.js';
import { PROMPT_NAME, PROMPT_VARIABLES, templateVariables, type PromptTemplate } from '../prompts/prompt-template.js';
import { createModel, createRuntime } from '../runtime.js';
import { ReleaseAudit, historyLine, readHistory, releaseActor, type ReleaseGate } from './audit.js';
import { DATASET_NAME, RUBRIC, loadDataset, type DatasetItem } from './dataset.js';
import { LangfuseExperimentRecorder } from './experiment-recording.js';
import { ExperimentAborted, runExperiment, type ExperimentRun } from './experiment-runner.js';
import { decideGate, gateJson, gateTable, type GateReport, type RunResult } from './gate.js';
import type { LangfuseDatasets } from './langfuse-datasets.js';
import { meteredModel, type MeteredCall } from './metered-model.js';

/** A refusal or failure with a message for the operator; nothing was moved. */
export class ReleaseError extends Error {
  override name = 'ReleaseError';
}

export interface ReleaseDeps {
  settings: Settings;
  logger: Logger;
  tracer: Tracer;
  /** One stdout line. */
  print: (line: string) => void;
  /** Ctrl-C: stops the evaluation; no label moves after it. */
  signal: AbortSignal;
  /** Present when Langfuse keys are set. */
  langfuse?: { admin: PromptAdmin; datasets: LangfuseDatasets };
  /** Where prompt versions are read for evaluation (the service's own source by default). */
  promptSource: VersionedPromptSource;
  /** Evaluator scores go here: the quality score sink (bounded queue, background delivery). */
  scoreSink: ScoreSink;
  /** The configured model by default. */
  model?: AnswerModel;
  /** The model price catalog (config/model-prices.json), shared with the runtime's model spans. */
  prices?: PriceCatalog;
  /** USD for one model call; undefined when it cannot be priced. */
  priceCall: (call: MeteredCall) => number | undefined;
  now?: () => Date;
}

export type CandidateSelector = { version: number } | { label: string };

export interface EvalOptions {
  candidate: CandidateSelector;
  baselineLabel: string;
  candidateRun?: string;
  baselineRun?: string;
}

export interface PromoteOptions {
  version: number;
  label: string;
  force: boolean;
  reason: string;
}

/** `dataset seed`: the Langfuse dataset and every item, upserted by id (idempotent). */
export async function seedDataset(deps: ReleaseDeps): Promise<number> {
  const items = loadDataset(deps.settings.release.datasetFile);
  const { datasets } = requireLangfuse(deps, 'dataset seed');
  await datasets.ensureDataset(deps.settings.service.environment);
  deps.print(`dataset ready: ${DATASET_NAME}`);
  for (const item of items) {
    await datasets.upsertItem(item);
    deps.print(`dataset item ready: ${item.id}`);
  }
  return 0;
}

/** `eval`: candidate and baseline over the dataset; the table, then the gate JSON as the last line. Exit 0 when it passes. */
export async function evaluateCommand(deps: ReleaseDeps, options: EvalOptions): Promise<number> {
  const items = loadDataset(deps.settings.release.datasetFile);
  const candidate = await readCandidate(deps.promptSource, options.candidate);
  const baseline = await readLabel(deps.promptSource, options.baselineLabel);
  if (!baseline) throw new ReleaseError(`baseline label '${options.baselineLabel}' is on no version of ${PROMPT_NAME}; choose one with --baseline-label`);
  const report = await runGate(deps, items, {
    candidate,
    candidateLabel: 'label' in options.candidate ? options.candidate.label : options.baselineLabel,
    candidateRun: options.candidateRun,
    baseline,
    baselineLabel: options.baselineLabel,
    baselineRun: options.baselineRun,
  });
  deps.print(gateJson(report));
  return report.passed ? 0 : 1;
}

/**
 * `promote`: the variable contract for every label; for protected labels the gate against the
 * current holder (nothing moves when it fails, unless forced with a reason); every move audited.
 */
export async function promoteCommand(deps: ReleaseDeps, options: PromoteOptions): Promise<number> {
  const { admin } = requireLangfuse(deps, 'promote');
  const { version, label } = options;
  if (options.force && options.reason.trim() === '') throw new ReleaseError('--force needs a non-empty --reason: a forced release is recorded with who and why. Nothing was moved.');

  const target = await admin.version(version);
  checkContract(target, version, label);
  const holder = await admin.labelHolder(label);
  if (holder?.version === version) {
    deps.print(`${label} already on version ${version}; unchanged`);
    return 0;
  }
  const audit = auditFor(deps);
  audit.assertWritable();
  const actor = releaseActor(deps.settings.release.actor);
  const from = holder?.version;
  const moved = `${from === undefined ? `added ${label} to` : `moved ${label} from version ${from} to`} version ${version}`;

  if (!deps.settings.release.protectedLabels.includes(label)) {
    await admin.moveLabel(version, label);
    audit.record({ promptName: PROMPT_NAME, label, fromVersion: from, toVersion: version, gate: 'not_required', reason: options.reason, actor });
    deps.print(`${moved} (${label} is not protected: no gate)`);
    return 0;
  }

  const items = loadDataset(deps.settings.release.datasetFile);
  const candidate = await readVersion(deps.promptSource, version, label);
  const baseline = from === undefined ? undefined : await readVersion(deps.promptSource, from, label);
  const report = await runGate(deps, items, { candidate, candidateLabel: label, baseline, baselineLabel: label });
  if (deps.signal.aborted) throw new ExperimentAborted('interrupted before the move');
  if (!report.passed && !options.force) {
    deps.print(`refusing to promote: the release gate failed; ${label} stays on ${from === undefined ? 'no version' : `version ${from}`}. Fix the candidate, or override with --force --reason "…" (recorded).`);
    deps.print(gateJson(report));
    return 1;
  }
  const gate: ReleaseGate = report.passed ? 'passed' : 'forced';
  await admin.moveLabel(version, label);
  audit.record({ promptName: PROMPT_NAME, label, fromVersion: from, toVersion: version, gate, reason: options.reason, actor, gateRun: report.candidate.run, gateReport: report });
  deps.print(gate === 'passed' ? `${moved} (gate passed)` : `${moved} (gate FAILED, forced by ${actor}: ${options.reason})`);
  deps.print(gateJson(report));
  return 0;
}

/** `rollback`: never gated (the emergency path), always audited. */
export async function rollbackCommand(deps: ReleaseDeps, options: { label: string; reason: string }): Promise<number> {
  const { admin } = requireLangfuse(deps, 'rollback');
  const { from, to } = await admin.rollbackPlan(options.label);
  const audit = auditFor(deps);
  audit.assertWritable();
  const target = await admin.version(to);
  const problem = contractProblem(target);
  // Rolling back must never wait on anything; a target that breaks the contract is only worth a warning.
  if (problem) deps.logger.warn({ label: options.label, version: to }, `rollback target ${problem}: requests with it will fail closed`);
  await admin.moveLabel(to, options.label);
  audit.record({ promptName: PROMPT_NAME, label: options.label, fromVersion: from, toVersion: to, gate: 'rollback', reason: options.reason, actor: releaseActor(deps.settings.release.actor) });
  deps.print(`rolled back ${options.label} from version ${from} to version ${to}`);
  return 0;
}

/** `history`: the release log, newest first. */
export function historyCommand(deps: Pick<ReleaseDeps, 'settings' | 'print' | 'logger'>, options: { label?: string }): number {
  const { records, problems } = readHistory(deps.settings.release.logFile, options.label);
  for (const problem of problems) deps.logger.warn(`skipped a release log line: ${problem}`);
  if (records.length === 0) deps.logger.info({ file: deps.settings.release.logFile, label: options.label }, 'no label moves recorded');
  for (const record of records) deps.print(historyLine(record));
  return 0;
}

// --- the gate -----------------------------------------------------------------------------------

interface GatePlan {
  candidate: PromptTemplate;
  /** The label the candidate's runs ask for (the one it would hold). */
  candidateLabel: string;
  candidateRun?: string | undefined;
  /** Undefined when the label has no holder yet: only the scores decide. */
  baseline: PromptTemplate | undefined;
  baselineLabel: string;
  baselineRun?: string | undefined;
}

/** Both runs through the real agent (pinned versions), then the verdict; prints the table and where it was recorded. */
async function runGate(deps: ReleaseDeps, items: readonly DatasetItem[], plan: GatePlan): Promise<GateReport> {
  const { settings, logger } = deps;
  let recorder: LangfuseExperimentRecorder | undefined;
  // Run items and scores point at traces: without tracing there is nothing to link.
  if (deps.langfuse && !settings.telemetry.disabled) {
    recorder = new LangfuseExperimentRecorder(deps.langfuse.datasets, deps.scoreSink, logger);
    await recorder.prepare(items, settings.service.environment);
  }
  const model = meteredModel(deps.model ?? createModel(settings));
  const experiment = (role: 'candidate' | 'baseline', template: PromptTemplate, promptLabel: string, runName: string): ExperimentRun => {
    // The runtime's own quality sink is not used by evaluation runs: hand it a disabled one.
    const runtime = createRuntime(settings, logger, deps.tracer, {
      promptSource: new PinnedPromptSource(deps.promptSource.kind, template),
      model,
      scoreSink: new DisabledScoreSink(),
      ...(deps.prices ? { prices: deps.prices } : {}),
    });
    return {
      runName,
      role,
      version: template.version,
      promptLabel,
      agent: runtime.agent,
      description: `Release gate ${RUBRIC}: ${PROMPT_NAME} v${template.version} as the ${role}`,
      metadata: {
        prompt_name: PROMPT_NAME,
        prompt_version: template.version,
        prompt_label: promptLabel,
        role,
        model: settings.openai.model,
        agent_version: settings.service.agentVersion,
        rubric: RUBRIC,
        dataset_items: items.length,
      },
    };
  };
  const experimentDeps = {
    tracer: deps.tracer,
    agentVersion: settings.service.agentVersion,
    environment: settings.service.environment,
    concurrency: settings.release.concurrency,
    itemTimeoutMs: settings.release.itemTimeoutMs,
    priceCall: deps.priceCall,
    signal: deps.signal,
    ...(recorder?.recording ? { recorder } : {}),
  };

  const runs: RunResult[] = [];
  const candidateRun = experiment('candidate', plan.candidate, plan.candidateLabel, plan.candidateRun ?? `order-status-v${plan.candidate.version}-candidate`);
  logger.info({ run: candidateRun.runName, version: candidateRun.version, items: items.length }, 'running the candidate');
  runs.push(await runExperiment(candidateRun, items, experimentDeps));
  let baselineResult: RunResult | undefined;
  if (plan.baseline) {
    const baselineRun = experiment('baseline', plan.baseline, plan.baselineLabel, plan.baselineRun ?? `order-status-${plan.baselineLabel}-baseline`);
    logger.info({ run: baselineRun.runName, version: baselineRun.version, items: items.length }, 'running the baseline');
    baselineResult = await runExperiment(baselineRun, items, experimentDeps);
    runs.push(baselineResult);
  }
  const report = decideGate(runs[0] as RunResult, baselineResult, plan.baselineLabel);
  for (const line of gateTable(report, runs[0] as RunResult, baselineResult)) deps.print(line);
  await recorder?.flushScores(settings.service.shutdownGraceMs);
  const recording = recorder
    ? recorder.summary(runs.map((r) => r.runName))
    : [
        deps.langfuse
          ? 'langfuse: not recorded (OTEL_SDK_DISABLED=true: no traces to link runs and scores to); evaluated locally'
          : `langfuse: not recorded (no Langfuse keys: evaluated locally with the ${deps.promptSource.kind} prompt source)`,
      ];
  for (const line of recording) deps.print(line);
  return report;
}

// --- helpers ------------------------------------------------------------------------------------

function requireLangfuse(deps: ReleaseDeps, command: string): NonNullable<ReleaseDeps['langfuse']> {
  if (!deps.langfuse) throw new ReleaseError(`${command} needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (environment or .env).`);
  return deps.langfuse;
}

function auditFor(deps: ReleaseDeps): ReleaseAudit {
  return new ReleaseAudit({ tracer: deps.tracer, logFile: deps.settings.release.logFile, agentVersion: deps.settings.service.agentVersion, now: deps.now });
}

type StoredVersion = Awaited<ReturnType<PromptAdmin['version']>>;

/** Why a stored version breaks the §4 variable contract, or undefined when it uses exactly the five variables. */
export function contractProblem(prompt: StoredVersion): string | undefined {
  if (prompt.type !== 'chat') return `is a ${prompt.type} prompt, not chat`;
  const messages = prompt.prompt.flatMap((item) => ('role' in item ? [{ role: item.role, content: item.content }] : []));
  const used = templateVariables(messages);
  const missing = PROMPT_VARIABLES.filter((v) => !used.includes(v));
  const unexpected = used.filter((v) => !(PROMPT_VARIABLES as readonly string[]).includes(v));
  if (missing.length === 0 && unexpected.length === 0) return undefined;
  const parts = [missing.length ? `missing variables: ${missing.join(', ')}` : '', unexpected.length ? `unexpected variables: ${unexpected.join(', ')}` : ''];
  return `does not match the variable contract (${parts.filter(Boolean).join('; ')})`;
}

function checkContract(prompt: StoredVersion, version: number, label: string): void {
  const problem = contractProblem(prompt);
  if (problem) throw new ReleaseError(`refusing to promote version ${version} to ${label}: it ${problem}. Nothing was moved.`);
}

async function readVersion(source: VersionedPromptSource, version: number, label: string): Promise<PromptTemplate> {
  try {
    return await source.fetchVersion(PROMPT_NAME, version, label);
  } catch (error) {
    if (error instanceof PromptNotFoundError) throw new ReleaseError(`version ${version} of ${PROMPT_NAME} does not exist (${source.kind} prompt source)`);
    throw new ReleaseError(`cannot read version ${version} of ${PROMPT_NAME}: ${(error as Error).message}`);
  }
}

/** The version holding `label`, or undefined when none does. */
async function readLabel(source: VersionedPromptSource, label: string): Promise<PromptTemplate | undefined> {
  try {
    return await source.fetch(PROMPT_NAME, label);
  } catch (error) {
    if (error instanceof PromptNotFoundError) return undefined;
    throw new ReleaseError(`cannot read label '${label}' of ${PROMPT_NAME}: ${(error as Error).message}`);
  }
}

async function readCandidate(source: VersionedPromptSource, selector: CandidateSelector): Promise<PromptTemplate> {
  if ('version' in selector) return readVersion(source, selector.version, `v${selector.version}`);
  const found = await readLabel(source, selector.label);
  if (!found) throw new ReleaseError(`label '${selector.label}' is on no version of ${PROMPT_NAME} (${source.kind} prompt source)`);
  return found;
}
