import { randomBytes } from 'node:crypto';
import { isSpanContextValid, type Attributes, type Tracer } from '@opentelemetry/api';
import type { OrderStatusAgent } from '../agent/order-status-agent.js';
import { errorType, recordError } from '../telemetry/spans.js';
import { withTraceContext, type TraceContext } from '../telemetry/trace-context.js';
import { DATASET_NAME, RUBRIC, type DatasetItem } from './dataset.js';
import { evaluate, type Evaluation, type ItemOutput } from './evaluators.js';
import { costPerCase, roundUsd, type ItemResult, type RunResult } from './gate.js';
import { meterCalls, type MeteredCall } from './metered-model.js';

/** Langfuse's own experiment runner puts its traces in this environment, apart from live traffic. */
export const EXPERIMENT_ENVIRONMENT = 'sdk-experiment';

/** One run of the dataset through the agent with a pinned prompt version. */
export interface ExperimentRun {
  runName: string;
  role: 'candidate' | 'baseline';
  version: number;
  /** The label the agent asks for (its prompt source is pinned to `version` whatever the label). */
  promptLabel: string;
  agent: OrderStatusAgent;
  description: string;
  metadata: Record<string, string | number>;
}

/** Where an item's run is recorded besides its trace (Langfuse dataset runs and scores). Never throws. */
export interface ExperimentRecorder {
  /** `langfuse.experiment.dataset.id`, when the dataset is known to Langfuse. */
  readonly datasetId: string | undefined;
  /** Links the item's trace to the run; resolves with the dataset run id when Langfuse returned one. */
  linkItem(run: ExperimentRun, item: DatasetItem, traceId: string, rootSpanId: string): Promise<string | undefined>;
  /** The evaluator scores of one item, on its trace. */
  scoreItem(run: ExperimentRun, item: DatasetItem, traceId: string, rootSpanId: string, evaluations: readonly Evaluation[]): void;
}

export interface ExperimentDeps {
  tracer: Tracer;
  agentVersion: string;
  /** DEPLOYMENT_ENVIRONMENT, kept as trace metadata. */
  environment: string;
  concurrency: number;
  itemTimeoutMs: number;
  /** USD for one model call; undefined when the model has no price. */
  priceCall: (call: MeteredCall) => number | undefined;
  recorder?: ExperimentRecorder;
  /** Ctrl-C: no new item starts, running ones stop being waited for. */
  signal?: AbortSignal;
}

export class ExperimentAborted extends Error {
  override name = 'AbortError';
}

/** Runs every item (bounded concurrency, per-item timeout); a failing item is a result, never a crash. */
export async function runExperiment(run: ExperimentRun, items: readonly DatasetItem[], deps: ExperimentDeps): Promise<RunResult> {
  const results = await mapBounded(items, deps.concurrency, (item) => runItem(run, item, deps), deps.signal);
  if (deps.signal?.aborted) throw new ExperimentAborted(`run ${run.runName} interrupted`);
  const unpriced = [...new Set(results.flatMap((r) => r.unpriced))];
  return {
    runName: run.runName,
    version: run.version,
    items: results.map((r) => r.result),
    costPerCase: costPerCase(results.map((r) => r.result)),
    ...(unpriced.length > 0 ? { costUnknownReason: `no price for model ${unpriced.join(', ')}` } : {}),
  };
}

/** The `langfuse.experiment.*` attributes every span of an item's trace carries (LANGFUSE-API.md §6). */
function experimentAttributes(run: ExperimentRun, item: DatasetItem, experimentId: string, datasetId: string | undefined): Attributes {
  return {
    'langfuse.environment': EXPERIMENT_ENVIRONMENT,
    'langfuse.experiment.id': experimentId,
    'langfuse.experiment.name': run.runName,
    'langfuse.experiment.metadata': JSON.stringify(run.metadata),
    'langfuse.experiment.item.id': item.id,
    'langfuse.experiment.item.metadata': JSON.stringify(item.metadata),
    ...(datasetId ? { 'langfuse.experiment.dataset.id': datasetId } : {}),
  };
}

interface ItemRun {
  result: ItemResult;
  unpriced: string[];
  /** Settles when the agent run itself has ended (later than `result` when the item timed out). */
  settled: Promise<unknown>;
}

async function runItem(run: ExperimentRun, item: DatasetItem, deps: ExperimentDeps): Promise<ItemRun> {
  const sessionId = `eval_${randomBytes(16).toString('hex')}`;
  const traceContext: TraceContext = {
    sessionId,
    userId: item.input.user_id,
    traceName: 'release-eval',
    version: deps.agentVersion,
    tags: ['order-status', 'release-eval', run.role, `v${run.version}`],
    metadata: { environment: deps.environment, workflow: 'order-status', region: item.input.region, dataset: DATASET_NAME, run: run.runName },
    // The Langfuse SDK's fallback when no dataset run id is known: stable per run name.
    attributes: experimentAttributes(run, item, `${DATASET_NAME}/${run.runName}`, deps.recorder?.datasetId),
  };
  const calls: MeteredCall[] = [];
  return withTraceContext(traceContext, () =>
    deps.tracer.startActiveSpan(
      `experiment.item ${item.id}`,
      {
        attributes: {
          'app.eval.run': run.runName,
          'app.eval.role': run.role,
          'app.eval.prompt.version': run.version,
          'app.eval.rubric': RUBRIC,
          'langfuse.experiment.description': run.description,
          'langfuse.experiment.item.expected_output': JSON.stringify(item.expected_output),
          // Reviewed synthetic dataset content (committed in evals/), not customer data: kept so a failed case can be read.
          'langfuse.observation.input': JSON.stringify(item.input),
        },
      },
      async (root) => {
        const spanContext = root.spanContext();
        const traced = isSpanContextValid(spanContext);
        // Linked first, as Langfuse's SDK does: v4.1+ answers with the run's stable id, which is the experiment id.
        const datasetRunId = traced ? await deps.recorder?.linkItem(run, item, spanContext.traceId, spanContext.spanId) : undefined;
        const rootAttributes: Attributes = {
          'langfuse.experiment.item.root_observation_id': spanContext.spanId,
          ...(datasetRunId ? { 'langfuse.experiment.id': datasetRunId } : {}),
        };
        root.setAttributes(rootAttributes);

        let output: ItemOutput;
        let settled: Promise<unknown> = Promise.resolve();
        try {
          const input = { ...item.input, conversation_id: sessionId, prompt_label: run.promptLabel };
          const itemContext = { ...traceContext, attributes: { ...traceContext.attributes, ...rootAttributes } };
          const agentRun = meterCalls(calls, () => run.agent.run(input, { traceContext: itemContext }));
          settled = agentRun.catch(() => undefined);
          const { state } = await withDeadline(agentRun, deps.itemTimeoutMs, deps.signal);
          output = { outcome: state.outcome, answer: state.answer };
        } catch (error) {
          output = { outcome: 'error', answer: '', error: errorType(error) };
          recordError(root, error);
        }
        const evaluations = evaluate(item, output);
        const passed = evaluations.every((e) => e.value === 1);
        const prices = calls.map((call) => deps.priceCall(call));
        const unpriced = calls.filter((_, i) => prices[i] === undefined).map((c) => c.requestModel);
        const costUsd = unpriced.length > 0 ? null : roundUsd(prices.reduce<number>((sum, p) => sum + (p ?? 0), 0));
        root.setAttributes({
          'app.eval.outcome': output.outcome,
          'app.eval.passed': passed,
          'app.eval.model_calls': calls.length,
          ...(costUsd !== null ? { 'app.eval.cost_usd': costUsd } : {}),
          ...Object.fromEntries(evaluations.map((e) => [`app.eval.score.${e.name}`, e.value])),
          'langfuse.observation.output': JSON.stringify(output),
        });
        root.end();
        if (traced) deps.recorder?.scoreItem(run, item, spanContext.traceId, spanContext.spanId, evaluations);
        return {
          result: { item, output, evaluations, ...(traced ? { traceId: spanContext.traceId } : {}), costUsd },
          unpriced,
          settled,
        };
      },
    ),
  );
}

/** Rejects with a TimeoutError after `ms` (the run itself is left to its own deadlines), or on abort. */
function withDeadline<T>(promise: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`item exceeded ${ms} ms`), { name: 'TimeoutError' })), ms);
    timer.unref();
    if (signal) {
      onAbort = () => reject(new ExperimentAborted('interrupted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}

/**
 * `fn` over `items` with at most `limit` agent runs alive; results in input order; no new item after
 * an abort. A timed-out item's result is in at its deadline, but its slot frees only when its run
 * ends (the model call path has its own deadlines), so a hanging provider never sees more than
 * `limit` requests from the gate.
 */
async function mapBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<ItemRun>, signal: AbortSignal | undefined): Promise<ItemRun[]> {
  const results: ItemRun[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const index = next++;
      const itemRun = await fn(items[index] as T);
      results[index] = itemRun;
      if (!signal?.aborted) await itemRun.settled;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
