import type { Logger } from 'pino';
import type { ScoreBody, ScoreSink } from '../quality/score-sink.js';
import { PromptAdminError } from '../prompts/cli/langfuse-call.js';
import { DATASET_NAME, type DatasetItem } from './dataset.js';
import type { Evaluation } from './evaluators.js';
import { EXPERIMENT_ENVIRONMENT, type ExperimentRecorder, type ExperimentRun } from './experiment-runner.js';
import type { DatasetRef, LangfuseDatasets } from './langfuse-datasets.js';

/** An evaluator score: a plain `POST /api/public/scores` body, NUMERIC, on the item's trace. */
export type EvaluationScoreBody = ScoreBody & { id: string; value: 0 | 1; dataType: 'NUMERIC'; traceId: string; observationId: string; comment: string };

/** The plain score bodies for one item: NUMERIC 1.0/0.0 on the item's trace, stable ids (a re-post overwrites). */
export function evaluationScores(run: ExperimentRun, item: DatasetItem, traceId: string, rootSpanId: string, evaluations: readonly Evaluation[]): EvaluationScoreBody[] {
  return evaluations.map((e) => ({
    id: `${traceId}:${e.name}`,
    name: e.name,
    value: e.value,
    dataType: 'NUMERIC',
    traceId,
    observationId: rootSpanId,
    comment: e.comment,
    environment: EXPERIMENT_ENVIRONMENT,
    metadata: { dataset: DATASET_NAME, run: run.runName, item: item.id, prompt_version: run.version },
  }));
}

interface RunRecord {
  linked: number;
  datasetRunId?: string;
}

/**
 * Records experiment runs in Langfuse: the dataset and its items, one dataset run item per item
 * (Langfuse v4's 404 is expected: v4 links experiments through the span attributes), and the
 * evaluator scores. Failures never stop the evaluation: the first sign that Langfuse is
 * unreachable turns recording off, and `summary` says the run was not recorded.
 */
export class LangfuseExperimentRecorder implements ExperimentRecorder {
  private dataset: DatasetRef | undefined;
  private offReason: string | undefined = 'not prepared';
  private v4 = false;
  private readonly problems = new Set<string>();
  private readonly runs = new Map<string, RunRecord>();
  private scoresQueued = 0;

  constructor(
    private readonly datasets: LangfuseDatasets,
    private readonly scores: ScoreSink,
    private readonly logger: Logger,
  ) {}

  get datasetId(): string | undefined {
    return this.dataset?.id;
  }

  get recording(): boolean {
    return this.offReason === undefined;
  }

  /** Makes the Langfuse dataset match the file being evaluated (idempotent upserts), so run items can point at its items. */
  async prepare(items: readonly DatasetItem[], environment: string): Promise<void> {
    try {
      this.dataset = await this.datasets.ensureDataset(environment);
      for (const item of items) await this.datasets.upsertItem(item);
      this.offReason = undefined;
    } catch (error) {
      this.offReason = error instanceof Error ? error.message : String(error);
      this.logger.warn({ err: error }, 'Langfuse dataset not reachable: evaluating locally, this run is not recorded in Langfuse');
    }
  }

  async linkItem(run: ExperimentRun, item: DatasetItem, traceId: string, rootSpanId: string): Promise<string | undefined> {
    if (!this.recording || this.v4) return this.runs.get(run.runName)?.datasetRunId;
    const record = this.runs.get(run.runName) ?? { linked: 0 };
    this.runs.set(run.runName, record);
    try {
      const outcome = await this.datasets.recordRunItem({
        runName: run.runName,
        runDescription: run.description,
        metadata: run.metadata,
        datasetItemId: item.id,
        traceId,
        observationId: rootSpanId,
      });
      if (outcome.status === 'v4') {
        this.v4 = true;
        return undefined;
      }
      record.linked += 1;
      record.datasetRunId = outcome.datasetRunId;
      return outcome.datasetRunId;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // No HTTP status: connection refused, reset or timed out. Stop trying for the rest of the run.
      if (!(error instanceof PromptAdminError) || error.status === undefined) this.offReason = message;
      else if (!this.problems.has(message)) {
        this.problems.add(message);
        this.logger.warn({ err: error, item: item.id }, 'dataset run item not recorded');
      }
      return undefined;
    }
  }

  scoreItem(run: ExperimentRun, item: DatasetItem, traceId: string, rootSpanId: string, evaluations: readonly Evaluation[]): void {
    if (!this.scores.sending || this.offReason !== undefined) return;
    for (const score of evaluationScores(run, item, traceId, rootSpanId, evaluations)) {
      this.scores.enqueue(score);
      this.scoresQueued += 1;
    }
  }

  /** Waits (bounded) for the evaluator scores to reach Langfuse, so the summary can say they did. */
  async flushScores(timeoutMs: number): Promise<void> {
    if (this.scores.sending && this.scoresQueued > 0) await this.scores.flush(timeoutMs);
  }

  private scoreLine(): string {
    if (!this.scores.sending) return 'langfuse: evaluator scores not sent (local prompt mode sends no scores)';
    const { pending, rejected, dropped } = this.scores.stats();
    const problems = [pending ? `${pending} still pending, retried until exit` : '', rejected ? `${rejected} rejected` : '', dropped ? `${dropped} dropped` : ''].filter(Boolean);
    return `langfuse: ${this.scoresQueued} evaluator scores sent on the item traces${problems.length ? ` (${problems.join(', ')})` : ''}`;
  }

  /** One line per run saying where (and whether) it was recorded. */
  summary(runNames: readonly string[]): string[] {
    if (this.offReason !== undefined) {
      return [`langfuse: NOT recorded in Langfuse (${this.offReason}); the gate above was evaluated locally`];
    }
    const lines = runNames.map((name) => {
      const record = this.runs.get(name);
      if (this.v4) return `langfuse: run ${name} recorded as an experiment through span attributes (Langfuse v4 answers 404 to dataset run items, as expected)`;
      if (record?.datasetRunId && this.dataset) return `langfuse: run ${name} recorded (${record.linked} items): ${this.datasets.runUrl(this.dataset, record.datasetRunId)}`;
      return `langfuse: run ${name} NOT recorded as a dataset run (${[...this.problems].join('; ') || 'no item linked'}); traces and scores were sent`;
    });
    lines.push(this.scoreLine());
    return lines;
  }
}
