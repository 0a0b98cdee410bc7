import type { LangfuseClient } from '@langfuse/client';
import { langfuseCall, PromptAdminError, publicUrl, type LangfuseCallOptions, type RequestOptions } from '../prompts/cli/langfuse-call.js';
import { DATASET_NAME, RUBRIC, type DatasetItem } from './dataset.js';

/** Langfuse v4 (events_only) answers 404 with this for the legacy dataset-run-items write. */
const V4_NOT_AVAILABLE = /not available on deployments running in Langfuse v4/i;

export interface DatasetRef {
  id: string;
  projectId: string;
}

export interface RunItemRequest {
  runName: string;
  runDescription: string;
  metadata: Record<string, unknown>;
  datasetItemId: string;
  traceId: string;
  /** The item's root span: where the run item points in the trace. */
  observationId: string;
}

/** `recorded` with the run's id, or `v4` when Langfuse links experiments through span attributes only. */
export type RunItemOutcome = { status: 'recorded'; datasetRunId: string } | { status: 'v4' };

/**
 * The dataset API (SPEC §10, LANGFUSE-API.md §6) through @langfuse/client, every request bounded
 * and its failure an operator message (PromptAdminError).
 */
export class LangfuseDatasets {
  readonly baseUrl: string;
  private readonly call: LangfuseCallOptions;

  constructor(
    private readonly client: LangfuseClient,
    options: { baseUrl: string; timeoutMs: number; logger?: LangfuseCallOptions['logger'] },
  ) {
    this.baseUrl = publicUrl(options.baseUrl);
    this.call = { baseUrl: this.baseUrl, timeoutMs: options.timeoutMs, subject: DATASET_NAME, logger: options.logger };
  }

  /** The dataset, created when missing (GET, then POST /api/public/v2/datasets). */
  async ensureDataset(environment: string): Promise<DatasetRef & { created: boolean }> {
    try {
      const found = await this.request(`get dataset ${DATASET_NAME}`, 1, (o) => this.client.api.datasets.get(DATASET_NAME, o));
      return { id: found.id, projectId: found.projectId, created: false };
    } catch (error) {
      if (!(error instanceof PromptAdminError && error.status === 404)) throw error;
    }
    const created = await this.request(`create dataset ${DATASET_NAME}`, 1, (o) =>
      this.client.api.datasets.create(
        {
          name: DATASET_NAME,
          description: 'Regression cases for the order-status agent: the release gate of `npm run prompts -- promote`.',
          metadata: { workflow: 'order-status', rubric: RUBRIC, environment, source: 'evals/order-status-regression.jsonl' },
        },
        o,
      ),
    );
    return { id: created.id, projectId: created.projectId, created: true };
  }

  /** Upserts one item by its id (POST /api/public/dataset-items): safe to repeat. */
  async upsertItem(item: DatasetItem): Promise<void> {
    await this.request(`upsert dataset item ${item.id}`, 1, (o) =>
      this.client.api.datasetItems.create(
        { datasetName: DATASET_NAME, id: item.id, input: item.input, expectedOutput: item.expected_output, metadata: item.metadata, status: 'ACTIVE' },
        o,
      ),
    );
  }

  /** Links one item's trace to a dataset run (POST /api/public/dataset-run-items); Langfuse v4's 404 is expected. */
  async recordRunItem(request: RunItemRequest): Promise<RunItemOutcome> {
    try {
      // Not retried: the endpoint creates a new run item per call.
      const created = await this.request(`record run item ${request.datasetItemId}`, 0, (o) => this.client.api.datasetRunItems.create(request, o));
      return { status: 'recorded', datasetRunId: created.datasetRunId };
    } catch (error) {
      if (error instanceof PromptAdminError && error.status === 404 && V4_NOT_AVAILABLE.test(error.serverMessage ?? '')) return { status: 'v4' };
      throw error;
    }
  }

  /** Where a recorded run is in the Langfuse UI. */
  runUrl(dataset: DatasetRef, datasetRunId: string): string {
    return `${this.baseUrl}/project/${encodeURIComponent(dataset.projectId)}/datasets/${encodeURIComponent(dataset.id)}/runs/${encodeURIComponent(datasetRunId)}`;
  }

  private request<T>(what: string, maxRetries: number, fn: (o: RequestOptions) => Promise<T>): Promise<T> {
    return langfuseCall(this.call, what, maxRetries, fn);
  }
}
