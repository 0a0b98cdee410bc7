/**
 * Langfuse's dataset APIs for tests, mounted on the prompt stand-in (langfuse-prompt-stand-in.ts
 * serves them by default), so one base URL serves what `npm run prompts -- dataset seed / eval` use.
 *
 * Modelled on the Langfuse server (see ../shared/LANGFUSE-API.md §6):
 *  - POST /api/public/v2/datasets (web/src/pages/api/public/v2/datasets/index.ts): upsert by name,
 *    200 with the dataset. GET /api/public/v2/datasets (paged) and /api/public/v2/datasets/{name}
 *    (404 `{"message":"Dataset not found","error":"LangfuseNotFoundError"}`).
 *  - POST /api/public/dataset-items (…/dataset-items/index.ts): the dataset must exist (404); upsert
 *    by `id`; an id used by another dataset → 404 "The dataset item with id … already exists in a
 *    dataset other than …". GET /api/public/dataset-items?datasetName=.
 *  - POST /api/public/dataset-run-items (…/dataset-run-items.ts): STRICT body (unknown keys → 400),
 *    `traceId` or `observationId` required, the item must exist (404 "Dataset item not found"); the
 *    run is created on first use (by dataset and name). Mode `v4` answers every dataset-run-items
 *    request 404 "This endpoint is not available on deployments running in Langfuse v4 events_only
 *    mode…" before authenticating, as Langfuse v4.0 does (createAuthedProjectAPIRoute.ts).
 * Validation errors: 400 `{"message":"Invalid request data","error":[zod issues]}`.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { LangfuseExtraRequest, LangfuseExtraResponse, LangfuseExtraRoutes } from './langfuse-prompt-stand-in.js';

export const V4_EVENTS_ONLY_MESSAGE =
  'This endpoint is not available on deployments running in Langfuse v4 events_only mode. Learn more about Langfuse v4 at: https://langfuse.com/docs/v4';

export type RunItemsMode = 'v3' | 'v4';

export interface StoredDataset {
  id: string;
  name: string;
  description: string | null;
  metadata: unknown;
  inputSchema: unknown;
  expectedOutputSchema: unknown;
  projectId: string;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetItem {
  id: string;
  datasetId: string;
  datasetName: string;
  status: 'ACTIVE' | 'ARCHIVED';
  input: unknown;
  expectedOutput: unknown;
  metadata: unknown;
  sourceTraceId: string | null;
  sourceObservationId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetRun {
  id: string;
  name: string;
  description: string | null;
  metadata: unknown;
  datasetId: string;
  datasetName: string;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetRunItem {
  id: string;
  datasetRunId: string;
  datasetRunName: string;
  datasetItemId: string;
  traceId: string;
  observationId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface LangfuseDatasetRoutes extends LangfuseExtraRoutes {
  readonly datasets: Map<string, StoredDataset>;
  readonly items: Map<string, StoredDatasetItem>;
  readonly runs: StoredDatasetRun[];
  readonly runItems: StoredDatasetRunItem[];
  setRunItemsMode(mode: RunItemsMode): void;
}

const json = z.unknown();
const postDataset = z.object({
  name: z.string().min(1),
  description: z.string().nullish(),
  metadata: json.nullish(),
  inputSchema: json.nullish(),
  expectedOutputSchema: json.nullish(),
});
const postItem = z.object({
  datasetName: z.string(),
  input: json.nullish(),
  expectedOutput: json.nullish(),
  metadata: json.nullish(),
  id: z.string().max(255).nullish(),
  sourceTraceId: z.string().nullish(),
  sourceObservationId: z.string().nullish(),
  status: z.enum(['ACTIVE', 'ARCHIVED']).nullish(),
});
const postRunItem = z
  .object({
    runName: z.string(),
    runDescription: z.string().nullish(),
    metadata: json.nullish(),
    datasetItemId: z.string(),
    observationId: z.string().nullish(),
    traceId: z.string().nullish(),
    datasetVersion: z.iso.datetime({ offset: true }).nullish(),
    createdAt: z.iso.datetime({ offset: true }).nullish(),
  })
  .strict()
  .refine((b) => b.observationId || b.traceId, { message: 'observationId or traceId must be provided', path: ['observationId', 'traceId'] });

const notFound = (message: string): LangfuseExtraResponse => ({ status: 404, body: { message, error: 'LangfuseNotFoundError' } });
const invalid = (error: z.ZodError): LangfuseExtraResponse => ({ status: 400, body: { message: 'Invalid request data', error: error.issues } });

export function createLangfuseDatasetRoutes(options: { projectId?: string; runItems?: RunItemsMode } = {}): LangfuseDatasetRoutes {
  const projectId = options.projectId ?? 'stand-in-project';
  let mode: RunItemsMode = options.runItems ?? 'v3';
  const datasets = new Map<string, StoredDataset>();
  const items = new Map<string, StoredDatasetItem>();
  const runs: StoredDatasetRun[] = [];
  const runItems: StoredDatasetRunItem[] = [];
  const now = () => new Date().toISOString();

  const body = (req: LangfuseExtraRequest): unknown => {
    try {
      return JSON.parse(req.rawBody.toString('utf8') || 'null');
    } catch {
      return undefined;
    }
  };

  const handlers: Record<string, (req: LangfuseExtraRequest, rest: string) => LangfuseExtraResponse> = {
    'POST datasets': (req) => {
      const parsed = postDataset.safeParse(body(req));
      if (!parsed.success) return invalid(parsed.error);
      const b = parsed.data;
      const existing = datasets.get(b.name);
      const at = now();
      const dataset: StoredDataset = {
        id: existing?.id ?? randomUUID(),
        name: b.name,
        description: b.description ?? existing?.description ?? null,
        metadata: b.metadata ?? existing?.metadata ?? null,
        inputSchema: b.inputSchema ?? existing?.inputSchema ?? null,
        expectedOutputSchema: b.expectedOutputSchema ?? existing?.expectedOutputSchema ?? null,
        projectId,
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      datasets.set(b.name, dataset);
      return { status: 200, body: dataset };
    },
    'GET datasets': (req, rest) => {
      if (rest) {
        const found = datasets.get(decodeURIComponent(rest));
        return found ? { status: 200, body: found } : notFound('Dataset not found');
      }
      const page = Number(req.query.page ?? 1);
      const limit = Number(req.query.limit ?? 50);
      const all = [...datasets.values()];
      return { status: 200, body: { data: all.slice((page - 1) * limit, page * limit), meta: { page, limit, totalItems: all.length, totalPages: Math.ceil(all.length / limit) } } };
    },
    'POST dataset-items': (req) => {
      const parsed = postItem.safeParse(body(req));
      if (!parsed.success) return invalid(parsed.error);
      const b = parsed.data;
      const dataset = datasets.get(b.datasetName);
      if (!dataset) return notFound('Dataset not found');
      const id = b.id ?? randomUUID();
      const existing = items.get(id);
      if (existing && existing.datasetId !== dataset.id) return notFound(`The dataset item with id ${id} already exists in a dataset other than ${dataset.name}`);
      const at = now();
      const item: StoredDatasetItem = {
        id,
        datasetId: dataset.id,
        datasetName: dataset.name,
        status: b.status ?? existing?.status ?? 'ACTIVE',
        input: b.input ?? existing?.input ?? null,
        expectedOutput: b.expectedOutput ?? existing?.expectedOutput ?? null,
        metadata: b.metadata ?? existing?.metadata ?? null,
        sourceTraceId: b.sourceTraceId ?? existing?.sourceTraceId ?? null,
        sourceObservationId: b.sourceObservationId ?? existing?.sourceObservationId ?? null,
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      items.set(id, item);
      return { status: 200, body: item };
    },
    'GET dataset-items': (req) => {
      const dataset = req.query.datasetName ? datasets.get(req.query.datasetName) : undefined;
      if (req.query.datasetName && !dataset) return notFound('Dataset not found');
      const all = [...items.values()].filter((i) => !dataset || i.datasetId === dataset.id);
      return { status: 200, body: { data: all, meta: { page: 1, limit: all.length, totalItems: all.length, totalPages: 1 } } };
    },
    'POST dataset-run-items': (req) => {
      const parsed = postRunItem.safeParse(body(req));
      if (!parsed.success) return invalid(parsed.error);
      const b = parsed.data;
      const item = items.get(b.datasetItemId);
      if (!item || item.status !== 'ACTIVE') return notFound('Dataset item not found');
      if (!b.traceId) return notFound('Trace not found');
      const at = b.createdAt ?? now();
      let run = runs.find((r) => r.datasetId === item.datasetId && r.name === b.runName);
      if (!run) {
        run = { id: randomUUID(), name: b.runName, description: b.runDescription ?? null, metadata: b.metadata ?? null, datasetId: item.datasetId, datasetName: item.datasetName, createdAt: at, updatedAt: at };
        runs.push(run);
      } else if (b.runDescription || b.metadata) {
        run.description = b.runDescription ?? run.description;
        run.metadata = b.metadata ?? run.metadata;
        run.updatedAt = at;
      }
      const runItem: StoredDatasetRunItem = {
        id: randomUUID(),
        datasetRunId: run.id,
        datasetRunName: run.name,
        datasetItemId: item.id,
        traceId: b.traceId,
        observationId: b.observationId ?? null,
        createdAt: at,
        updatedAt: at,
      };
      runItems.push(runItem);
      return { status: 200, body: runItem };
    },
  };

  return {
    datasets,
    items,
    runs,
    runItems,
    setRunItemsMode(next) {
      mode = next;
    },
    handle(req) {
      const match = /^\/api\/public\/(?:v2\/)?(datasets|dataset-items|dataset-run-items)(?:\/(.+))?$/.exec(req.pathname);
      if (!match) return undefined;
      const [, resource = '', rest = ''] = match;
      const v2 = req.pathname.startsWith('/api/public/v2/');
      // Only the routes this stand-in models: /v2/datasets, /dataset-items, /dataset-run-items.
      if ((resource === 'datasets') !== v2) return undefined;
      // Langfuse v4 rejects before authenticating (createAuthedProjectAPIRoute).
      if (resource === 'dataset-run-items' && mode === 'v4') return { status: 404, body: { message: V4_EVENTS_ONLY_MESSAGE } };
      req.checkAuth();
      const handler = handlers[`${req.method} ${resource}`];
      if (!handler || (rest && resource !== 'datasets')) return { status: 405, body: { message: 'Method not allowed', error: 'MethodNotAllowedError' } };
      return handler(req, rest);
    },
  };
}
