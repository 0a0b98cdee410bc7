/**
 * Langfuse's scores, metrics and OTLP ingestion APIs for tests, on the same server as the
 * prompt stand-in (langfuse-prompt-stand-in.ts, through its `extraRoutes` hook), so one
 * base URL serves everything the service and its CLIs talk to.
 *
 * Modelled on the Langfuse server (see ../shared/LANGFUSE-API.md §2, §3, §7):
 *  - POST /api/public/scores: Basic auth; body validated like `PostScoresBody`
 *    (packages/shared/src/features/scores/interfaces/api/shared.ts + utils/scores.ts):
 *    zod errors → 400 `{"message":"Invalid request data","error":[issues]}`, among them
 *    "Provide exactly one of the following: traceId (with optional observationId), sessionId or
 *    datasetRunId. ObservationId requires traceId."; 200 `{"id"}`; a known id is overwritten.
 *  - POST /api/public/otel/v1/traces: OTLP/HTTP (JSON or protobuf, gzip), Basic auth. Spans become
 *    observations the way OtelIngestionProcessor maps them (type, prompt link, usage, cost,
 *    environment); a generation whose prompt version is not an integer is dropped, as Langfuse does.
 *  - GET /api/public/v2/metrics and /api/public/metrics `?query=<json>`: the query object schema of
 *    web/src/features/public-api/types/metrics.ts, evaluated over what this stand-in received
 *    (views observations, scores-numeric [NUMERIC + BOOLEAN], scores-categorical [CATEGORICAL + TEXT],
 *    scores-boolean), grouped by dimensions; `{"data":[{<dimension>…, "<agg>_<measure>": v}]}` with
 *    counts as strings (ClickHouse UInt64), as the docs show.
 *    `metricsApi: 'v4'` (default, Langfuse v4): v1 answers 404 (events_only mode);
 *    `'v3'`: v2 answers 404 (no v4 write mode); `'both'`: both answer.
 *
 * Standalone: `node --import tsx test/support/langfuse-quality-stand-in.ts --port 3100
 *   [--public-key pk] [--secret-key sk] [--seed-repo-prompts] [--metrics-api v4|v3|both]`
 * prints `listening http://127.0.0.1:3100` and runs until SIGTERM/SIGINT.
 */
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import { z } from 'zod';
import { promptVersions, readPromptFile } from '../../src/prompts/local-prompt-source.js';
import {
  startLangfusePromptStandIn,
  type LangfuseExtraRequest,
  type LangfuseExtraResponse,
  type LangfuseExtraRoutes,
  type LangfusePromptStandIn,
  type LangfusePromptStandInOptions,
} from './langfuse-prompt-stand-in.js';
import { decodeTraceExport, type ReceivedSpan } from './otlp-receiver.js';
import { isDirectRun, parseCliArgs, runStandalone } from './stand-in-util.js';

// ---------------------------------------------------------------------------
// Stored data
// ---------------------------------------------------------------------------

export interface StoredObservation {
  id: string;
  traceId: string;
  parentObservationId?: string;
  name: string;
  type: string;
  level: string;
  environment: string;
  startTime: number;
  endTime: number;
  promptName?: string;
  promptVersion?: number;
  providedModelName?: string;
  usage: Record<string, number>;
  cost: Record<string, number>;
  traceName?: string;
  userId?: string;
  sessionId?: string;
  /** The decoded span, for assertions. */
  span: ReceivedSpan;
}

export interface StoredScore {
  id: string;
  name: string;
  dataType: 'NUMERIC' | 'CATEGORICAL' | 'BOOLEAN' | 'TEXT' | 'CORRECTION';
  value: number | null;
  stringValue?: string;
  traceId?: string;
  observationId?: string;
  sessionId?: string;
  datasetRunId?: string;
  comment?: string;
  metadata?: unknown;
  environment: string;
  source: string;
  configId?: string;
  queueId?: string;
  /** Last write (ms). */
  timestamp: number;
  /** How many times this id was written. */
  writes: number;
}

export type MetricsApiMode = 'v4' | 'v3' | 'both';

export interface LangfuseQualityRoutes extends LangfuseExtraRoutes {
  /** Current scores, one per id (upserts overwrite). */
  readonly scores: Map<string, StoredScore>;
  /** Every POST /api/public/scores, with the status answered. */
  readonly scoreRequests: { status: number; body: unknown; at: number }[];
  readonly observations: StoredObservation[];
  /** Every metrics request: which endpoint, the query, the status. */
  readonly metricsRequests: { path: string; query: unknown; status: number }[];
  setMetricsApi(mode: MetricsApiMode): void;
  /** Answer every POST /api/public/scores with this status (nothing stored) until null; prompts keep working. */
  setScoreFault(fault: { status: number; body?: unknown } | null): void;
  /** Resolves when `predicate` holds (polling), rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  reset(): void;
}

// ---------------------------------------------------------------------------
// POST /api/public/scores validation (PostScoresBody)
// ---------------------------------------------------------------------------

const nullishString = z.string().nullish();
const scoreFoundation = z.object({
  id: nullishString,
  name: z.string().min(1),
  traceId: nullishString,
  sessionId: nullishString,
  datasetRunId: nullishString,
  observationId: nullishString,
  comment: nullishString,
  metadata: z.json().nullish(),
  environment: z.string().default('default'),
  queueId: nullishString,
  source: z.enum(['API', 'ANNOTATION']).default('API'),
});

const scoreValue = z.discriminatedUnion('dataType', [
  z.object({ value: z.number(), dataType: z.literal('NUMERIC'), configId: nullishString }),
  z.object({ value: z.string(), dataType: z.literal('CATEGORICAL'), configId: nullishString }),
  z.object({
    value: z.number().refine((v) => v === 0 || v === 1, { message: 'Value must be a number equal to either 0 or 1 for data type BOOLEAN' }),
    dataType: z.literal('BOOLEAN'),
    configId: nullishString,
  }),
  z.object({ value: z.string(), dataType: z.literal('CORRECTION'), configId: z.undefined().nullish() }),
  z.object({ value: z.string().min(1).max(500), dataType: z.literal('TEXT'), configId: nullishString }),
  // No dataType: inferred from the value (zod 4 needs .optional() for an absent key; Langfuse's schema predates that).
  z.object({ value: z.union([z.string(), z.number()]), dataType: z.undefined().optional(), configId: nullishString }),
]);

export const TARGET_MESSAGE =
  'Provide exactly one of the following: traceId (with optional observationId), sessionId or datasetRunId. ObservationId requires traceId.';

const postScoresBody = scoreFoundation
  .and(scoreValue)
  .refine(
    (d) =>
      (!!d.traceId && !d.sessionId && !d.datasetRunId) ||
      (!!d.sessionId && !d.traceId && !d.datasetRunId && !d.observationId) ||
      (!!d.datasetRunId && !d.traceId && !d.sessionId && !d.observationId),
    { message: TARGET_MESSAGE, path: ['traceId', 'sessionId', 'datasetRunId', 'observationId'] },
  )
  .refine((d) => !(d.source === 'ANNOTATION' && !d.configId && d.dataType !== 'CORRECTION'), {
    message: 'configId is required for scores with source ANNOTATION',
    path: ['configId'],
  });

// ---------------------------------------------------------------------------
// Metrics query (MetricsQueryObject / MetricsV2QueryObject)
// ---------------------------------------------------------------------------

const AGGREGATIONS = ['sum', 'avg', 'count', 'max', 'min', 'p50', 'p75', 'p90', 'p95', 'p99', 'histogram', 'uniq'] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

const filterSchema = z.object({
  column: z.string(),
  operator: z.string(),
  value: z.unknown(),
  type: z.string(),
  key: z.string().optional(),
});

const queryObject = (views: readonly [string, ...string[]]) =>
  z
    .object({
      view: z.enum(views),
      dimensions: z.array(z.object({ field: z.string() })).optional().default([]),
      metrics: z.array(z.object({ measure: z.string(), aggregation: z.enum(AGGREGATIONS) })),
      filters: z.array(filterSchema).optional().default([]),
      timeDimension: z
        .object({ granularity: z.enum(['auto', 'minute', 'hour', 'day', 'week', 'month']) })
        .nullable()
        .optional()
        .default(null),
      fromTimestamp: z.iso.datetime({ offset: true }),
      toTimestamp: z.iso.datetime({ offset: true }),
      orderBy: z
        .array(z.object({ field: z.string(), direction: z.enum(['asc', 'desc']) }))
        .nullable()
        .optional()
        .default(null),
      config: z.object({ bins: z.number().int().min(1).max(100).optional(), row_limit: z.number().int().positive().lte(1000).optional() }).optional(),
    })
    .refine((q) => new Date(q.fromTimestamp).getTime() < new Date(q.toTimestamp).getTime(), { message: 'fromTimestamp must be before toTimestamp' });

const V1_QUERY = queryObject(['traces', 'observations', 'scores-numeric', 'scores-categorical', 'scores-boolean']);
const V2_QUERY = queryObject(['observations', 'scores-numeric', 'scores-categorical', 'scores-boolean']).refine(
  (q) => !q.dimensions.some((d) => ['traceName', 'traceRelease', 'traceVersion'].includes(d.field)),
  { message: 'V2 metrics API does not support the traceName, traceRelease and traceVersion dimensions.' },
);
type MetricsQuery = z.infer<typeof V1_QUERY>;

type Row = Record<string, unknown>;
interface ViewModel {
  rows(): Row[];
  time(row: Row): number;
  dimensions: Record<string, (row: Row) => unknown>;
  measures: Record<string, (row: Row) => number | null | undefined>;
  /** v2 refuses to group by these. */
  highCardinality: readonly string[];
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(JSON.stringify(body));
  }
}
const invalidRequest = (message: string) => new ApiError(400, { message, error: 'InvalidRequestError' });

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 1) return sorted[0] as number;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

function aggregate(values: (number | null | undefined)[], aggregation: Aggregation, rowCount: number): unknown {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  switch (aggregation) {
    case 'count':
      // UInt64 in ClickHouse: serialised as a string.
      return String(values.length === 0 ? rowCount : present.length);
    case 'uniq':
      return String(new Set(present).size);
    case 'sum':
      return present.reduce((a, b) => a + b, 0);
    case 'avg':
      return present.length ? present.reduce((a, b) => a + b, 0) / present.length : null;
    case 'min':
      return present.length ? Math.min(...present) : null;
    case 'max':
      return present.length ? Math.max(...present) : null;
    case 'histogram':
      throw new ApiError(501, { message: 'histogram is not modelled by this stand-in', error: 'NotImplemented' });
    default: {
      if (!present.length) return null;
      const sorted = [...present].sort((a, b) => a - b);
      return quantile(sorted, Number(aggregation.slice(1)) / 100);
    }
  }
}

function matches(value: unknown, filter: z.infer<typeof filterSchema>): boolean {
  const { operator, type } = filter;
  const v = value === undefined ? null : value;
  if (type === 'null') return operator === 'is null' ? v === null : v !== null;
  if (type === 'string') {
    const target = String(filter.value);
    const s = v === null ? '' : String(v);
    switch (operator) {
      case '=':
        return s === target;
      case '!=':
        return s !== target;
      case 'contains':
        return s.includes(target);
      case 'does not contain':
        return !s.includes(target);
      case 'starts with':
        return s.startsWith(target);
      case 'ends with':
        return s.endsWith(target);
    }
  }
  if (type === 'stringOptions' && Array.isArray(filter.value)) {
    const options = filter.value.map(String);
    if (operator === 'any of') return v !== null && options.includes(String(v));
    if (operator === 'none of') return v === null || !options.includes(String(v));
  }
  if (type === 'number') {
    const n = Number(v);
    const t = Number(filter.value);
    switch (operator) {
      case '=':
        return n === t;
      case '>':
        return n > t;
      case '<':
        return n < t;
      case '>=':
        return n >= t;
      case '<=':
        return n <= t;
    }
  }
  throw invalidRequest(`Unsupported filter: type ${type} with operator ${operator}`);
}

const GRANULARITY_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000, auto: 86_400_000 };

function evaluate(view: ViewModel, query: MetricsQuery): Row[] {
  for (const d of query.dimensions) if (!(d.field in view.dimensions)) throw invalidRequest(`Invalid dimension ${d.field}. Must be one of ${Object.keys(view.dimensions).join(', ')}`);
  for (const m of query.metrics) if (!(m.measure in view.measures)) throw invalidRequest(`Invalid metric ${m.measure}. Must be one of ${Object.keys(view.measures).join(', ')}`);
  for (const f of query.filters) if (!(f.column in view.dimensions)) throw invalidRequest(`Invalid filter column: ${f.column}`);
  const from = new Date(query.fromTimestamp).getTime();
  const to = new Date(query.toTimestamp).getTime();
  const rows = view.rows().filter((r) => {
    const t = view.time(r);
    return t >= from && t <= to && query.filters.every((f) => matches(view.dimensions[f.column]?.(r), f));
  });
  const groups = new Map<string, { key: Row; rows: Row[] }>();
  for (const r of rows) {
    const key: Row = {};
    for (const d of query.dimensions) key[d.field] = view.dimensions[d.field]?.(r) ?? null;
    if (query.timeDimension) {
      const size = GRANULARITY_MS[query.timeDimension.granularity] ?? 86_400_000;
      key.time_dimension = new Date(Math.floor(view.time(r) / size) * size).toISOString();
    }
    const id = JSON.stringify(key);
    const group = groups.get(id) ?? { key, rows: [] };
    group.rows.push(r);
    groups.set(id, group);
  }
  // No dimensions and no rows: one row of empty aggregates, as a GROUP BY-less SQL query gives.
  if (groups.size === 0 && query.dimensions.length === 0 && !query.timeDimension) groups.set('{}', { key: {}, rows: [] });
  let out = [...groups.values()].map(({ key, rows: groupRows }) => {
    const row: Row = { ...key };
    for (const m of query.metrics) {
      const measure = view.measures[m.measure] as (r: Row) => number | null | undefined;
      const values = m.measure === 'count' ? [] : groupRows.map(measure);
      row[`${m.aggregation}_${m.measure}`] = aggregate(values, m.aggregation, groupRows.length);
    }
    return row;
  });
  for (const order of [...(query.orderBy ?? [])].reverse()) {
    const metricField = /^(sum|avg|count|max|min|p50|p75|p90|p95|p99|histogram|uniq)_(.+)$/.exec(order.field);
    const known = query.dimensions.some((d) => d.field === order.field) || (metricField && query.metrics.some((m) => `${m.aggregation}_${m.measure}` === order.field));
    if (!known) throw invalidRequest(`Invalid orderBy field: ${order.field}`);
    const sign = order.direction === 'asc' ? 1 : -1;
    out = [...out].sort((a, b) => {
      const x = a[order.field];
      const y = b[order.field];
      const nx = Number(x);
      const ny = Number(y);
      const cmp = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : String(x).localeCompare(String(y));
      return cmp * sign;
    });
  }
  return out.slice(0, query.config?.row_limit ?? 1000);
}

// ---------------------------------------------------------------------------
// OTLP span → observation
// ---------------------------------------------------------------------------

const GENERATION_OPERATIONS = new Set(['chat', 'text_completion', 'generate_content']);

function jsonRecord(raw: unknown): Record<string, number> | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
  } catch {
    return undefined;
  }
}

/** The observation Langfuse would store for a span, or undefined when it would drop it. */
export function toObservation(span: ReceivedSpan): StoredObservation | undefined {
  const a = span.attributes;
  const explicitType = typeof a['langfuse.observation.type'] === 'string' ? String(a['langfuse.observation.type']).toUpperCase() : undefined;
  const operation = a['gen_ai.operation.name'];
  const type = explicitType ?? (typeof operation === 'string' && GENERATION_OPERATIONS.has(operation) ? 'GENERATION' : 'SPAN');
  const hasName = a['langfuse.observation.prompt.name'] !== undefined;
  const hasVersion = a['langfuse.observation.prompt.version'] !== undefined;
  if (type === 'GENERATION' && (hasName || hasVersion)) {
    // Langfuse's worker drops the whole generation when the link is half set or the version is no integer.
    if (!hasName || !hasVersion || span.attributeTypes['langfuse.observation.prompt.version'] !== 'int') return undefined;
  }
  const usage =
    jsonRecord(a['langfuse.observation.usage_details']) ??
    Object.fromEntries(
      [
        ['input', a['gen_ai.usage.input_tokens']],
        ['output', a['gen_ai.usage.output_tokens']],
      ].filter((e): e is [string, number] => typeof e[1] === 'number'),
    );
  if (usage.total === undefined && (usage.input !== undefined || usage.output !== undefined)) usage.total = (usage.input ?? 0) + (usage.output ?? 0);
  const cost = jsonRecord(a['langfuse.observation.cost_details']) ?? (typeof a['gen_ai.usage.cost'] === 'number' ? { total: a['gen_ai.usage.cost'] } : {});
  if (cost.total === undefined && (cost.input !== undefined || cost.output !== undefined)) cost.total = (cost.input ?? 0) + (cost.output ?? 0);
  const str = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : undefined);
  const nanosToMs = (n: string) => Number(BigInt(n) / 1_000_000n);
  return {
    id: span.spanId,
    traceId: span.traceId,
    ...(span.parentSpanId ? { parentObservationId: span.parentSpanId } : {}),
    name: span.name,
    type,
    level: str('langfuse.observation.level') ?? (span.status.code === 2 ? 'ERROR' : 'DEFAULT'),
    environment: str('langfuse.environment') ?? (typeof span.resource['deployment.environment.name'] === 'string' ? String(span.resource['deployment.environment.name']) : 'default'),
    startTime: nanosToMs(span.startTimeUnixNano),
    endTime: nanosToMs(span.endTimeUnixNano),
    ...(type === 'GENERATION' && hasName ? { promptName: str('langfuse.observation.prompt.name'), promptVersion: Number(a['langfuse.observation.prompt.version']) } : {}),
    ...(str('gen_ai.response.model') ?? str('gen_ai.request.model') ? { providedModelName: str('gen_ai.response.model') ?? str('gen_ai.request.model') } : {}),
    usage,
    cost,
    traceName: str('langfuse.trace.name'),
    userId: str('langfuse.user.id') ?? str('user.id'),
    sessionId: str('langfuse.session.id') ?? str('session.id'),
    span,
  };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

const V1_EVENTS_ONLY_404 = {
  message:
    'This endpoint is not available on deployments running in Langfuse v4 events_only mode. Learn more about Langfuse v4 at: https://langfuse.com/docs/v4',
  error: 'LangfuseNotFoundError',
};
const V2_LEGACY_404 = {
  message: 'The v2 metrics API is only available in a Langfuse v4 write mode.',
  error: 'LangfuseNotFoundError',
};

export function createLangfuseQualityRoutes(options: { metricsApi?: MetricsApiMode; now?: () => number } = {}): LangfuseQualityRoutes {
  const now = options.now ?? Date.now;
  let metricsApi: MetricsApiMode = options.metricsApi ?? 'v4';
  let scoreFault: { status: number; body?: unknown } | null = null;
  const scores = new Map<string, StoredScore>();
  const scoreRequests: { status: number; body: unknown; at: number }[] = [];
  const observations: StoredObservation[] = [];
  const metricsRequests: { path: string; query: unknown; status: number }[] = [];
  const byId = new Map<string, StoredObservation>();

  const observationOf = (s: StoredScore) => (s.observationId && s.traceId ? byId.get(`${s.traceId}:${s.observationId}`) : undefined);
  const traceOf = (traceId: string | undefined) => observations.find((o) => o.traceId === traceId && o.traceName !== undefined);

  const scoreDimensions = (v2: boolean): Record<string, (r: Row) => unknown> => {
    const s = (r: Row) => r as unknown as StoredScore;
    return {
      id: (r) => s(r).id,
      name: (r) => s(r).name,
      environment: (r) => s(r).environment,
      source: (r) => s(r).source,
      dataType: (r) => s(r).dataType,
      traceId: (r) => s(r).traceId ?? null,
      observationId: (r) => s(r).observationId ?? null,
      configId: (r) => s(r).configId ?? null,
      sessionId: (r) => (v2 ? (s(r).sessionId ?? null) : (traceOf(s(r).traceId)?.sessionId ?? null)),
      userId: (r) => traceOf(s(r).traceId)?.userId ?? null,
      traceName: (r) => traceOf(s(r).traceId)?.traceName ?? null,
      observationName: (r) => observationOf(s(r))?.name ?? null,
      observationModelName: (r) => observationOf(s(r))?.providedModelName ?? null,
      observationPromptName: (r) => observationOf(s(r))?.promptName ?? null,
      observationPromptVersion: (r) => observationOf(s(r))?.promptVersion ?? null,
    };
  };
  const scoreView = (dataTypes: readonly string[], v2: boolean, extra: Record<string, (r: Row) => unknown>, measures: ViewModel['measures']): ViewModel => ({
    rows: () => [...scores.values()].filter((s) => dataTypes.includes(s.dataType)) as unknown as Row[],
    time: (r) => (r as unknown as StoredScore).timestamp,
    dimensions: { ...scoreDimensions(v2), ...extra },
    measures,
    highCardinality: ['id', 'traceId', 'observationId', 'sessionId', 'userId'],
  });
  const views = (v2: boolean): Record<string, ViewModel> => {
    const o = (r: Row) => r as unknown as StoredObservation;
    const sumKeys = (rec: Record<string, number>, part: string) =>
      Object.entries(rec).reduce((n, [k, v]) => (k.toLowerCase().includes(part) ? n + v : n), 0);
    return {
      observations: {
        rows: () => observations as unknown as Row[],
        time: (r) => o(r).startTime,
        dimensions: {
          id: (r) => o(r).id,
          traceId: (r) => o(r).traceId,
          traceName: (r) => traceOf(o(r).traceId)?.traceName ?? null,
          environment: (r) => o(r).environment,
          parentObservationId: (r) => o(r).parentObservationId ?? null,
          type: (r) => o(r).type,
          name: (r) => o(r).name,
          level: (r) => o(r).level,
          providedModelName: (r) => o(r).providedModelName ?? null,
          promptName: (r) => o(r).promptName ?? null,
          promptVersion: (r) => o(r).promptVersion ?? null,
          userId: (r) => o(r).userId ?? traceOf(o(r).traceId)?.userId ?? null,
          sessionId: (r) => o(r).sessionId ?? traceOf(o(r).traceId)?.sessionId ?? null,
        },
        measures: {
          count: () => 1,
          latency: (r) => o(r).endTime - o(r).startTime,
          inputTokens: (r) => sumKeys(o(r).usage, 'input'),
          outputTokens: (r) => sumKeys(o(r).usage, 'output'),
          totalTokens: (r) => o(r).usage.total ?? 0,
          inputCost: (r) => sumKeys(o(r).cost, 'input'),
          outputCost: (r) => sumKeys(o(r).cost, 'output'),
          totalCost: (r) => o(r).cost.total ?? null,
          countScores: (r) => [...scores.values()].filter((s) => s.observationId === o(r).id).length,
        },
        highCardinality: ['id', 'traceId', 'userId', 'sessionId', 'parentObservationId'],
      },
      'scores-numeric': scoreView(['NUMERIC', 'BOOLEAN'], v2, { value: (r) => (r as unknown as StoredScore).value }, { count: () => 1, value: (r) => (r as unknown as StoredScore).value }),
      'scores-categorical': scoreView(['CATEGORICAL', 'TEXT'], v2, { stringValue: (r) => (r as unknown as StoredScore).stringValue ?? null }, { count: () => 1 }),
      'scores-boolean': scoreView(['BOOLEAN'], v2, { booleanValue: (r) => (r as unknown as StoredScore).value === 1 }, { count: () => 1, value: (r) => (r as unknown as StoredScore).value }),
    };
  };

  const postScore = (req: LangfuseExtraRequest): LangfuseExtraResponse => {
    req.checkAuth();
    if (scoreFault) return { status: scoreFault.status, body: scoreFault.body ?? { message: `stand-in failing with ${scoreFault.status}`, error: 'StandInFault' } };
    let json: unknown;
    try {
      json = JSON.parse(req.rawBody.toString('utf8'));
    } catch {
      return { status: 400, body: { message: 'Invalid request data', error: [{ code: 'custom', message: 'Invalid JSON', path: [] }] } };
    }
    const parsed = postScoresBody.safeParse(json);
    if (!parsed.success) return { status: 400, body: { message: 'Invalid request data', error: parsed.error.issues } };
    const b = parsed.data;
    const id = b.id ?? randomUUID();
    const dataType = b.dataType ?? (typeof b.value === 'string' ? 'CATEGORICAL' : 'NUMERIC');
    const previous = scores.get(id);
    scores.set(id, {
      id,
      name: b.name,
      dataType,
      value: typeof b.value === 'number' ? b.value : null,
      ...(typeof b.value === 'string' ? { stringValue: b.value } : dataType === 'BOOLEAN' ? { stringValue: b.value === 1 ? 'True' : 'False' } : {}),
      ...(b.traceId ? { traceId: b.traceId } : {}),
      ...(b.observationId ? { observationId: b.observationId } : {}),
      ...(b.sessionId ? { sessionId: b.sessionId } : {}),
      ...(b.datasetRunId ? { datasetRunId: b.datasetRunId } : {}),
      ...(b.comment ? { comment: b.comment } : {}),
      ...(b.metadata !== undefined && b.metadata !== null ? { metadata: b.metadata } : {}),
      ...(b.configId ? { configId: b.configId } : {}),
      ...(b.queueId ? { queueId: b.queueId } : {}),
      environment: b.environment,
      source: b.source,
      timestamp: now(),
      writes: (previous?.writes ?? 0) + 1,
    });
    return { status: 200, body: { id } };
  };

  const postOtlp = (req: LangfuseExtraRequest): LangfuseExtraResponse => {
    req.checkAuth();
    const version = Number(req.headers['x-langfuse-ingestion-version'] ?? 4);
    if (version > 4) return { status: 400, body: { message: `Unsupported ingestion version ${version}`, error: 'InvalidRequestError' } };
    const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
    let body = req.rawBody;
    try {
      if (encoding === 'gzip') body = zlib.gunzipSync(body);
      const spans = decodeTraceExport(body, String(req.headers['content-type'] ?? ''));
      for (const span of spans) {
        const observation = toObservation(span);
        if (!observation) continue;
        const key = `${observation.traceId}:${observation.id}`;
        const existing = byId.get(key);
        if (existing) observations.splice(observations.indexOf(existing), 1, observation);
        else observations.push(observation);
        byId.set(key, observation);
      }
    } catch (error) {
      return { status: 400, body: { message: (error as Error).message, error: 'InvalidRequestError' } };
    }
    return /protobuf/i.test(String(req.headers['content-type'])) ? { status: 200, raw: { contentType: 'application/x-protobuf', data: Buffer.alloc(0) } } : { status: 200, body: {} };
  };

  const getMetrics = (req: LangfuseExtraRequest, v2: boolean): LangfuseExtraResponse => {
    const path = req.pathname;
    const record = { path, query: req.query.query as unknown, status: 0 };
    metricsRequests.push(record);
    const answer = (r: LangfuseExtraResponse) => {
      record.status = r.status;
      return r;
    };
    req.checkAuth();
    if (v2 && metricsApi === 'v3') return answer({ status: 404, body: V2_LEGACY_404 });
    if (!v2 && metricsApi === 'v4') return answer({ status: 404, body: V1_EVENTS_ONLY_404 });
    let raw: unknown;
    try {
      raw = JSON.parse(req.query.query ?? '');
    } catch {
      return answer({ status: 400, body: { message: 'Invalid JSON in query parameter', error: 'InvalidRequestError' } });
    }
    record.query = raw;
    const parsed = (v2 ? V2_QUERY : V1_QUERY).safeParse(raw);
    if (!parsed.success) return answer({ status: 400, body: { message: 'Invalid request data', error: parsed.error.issues } });
    const query = parsed.data;
    try {
      if (query.view === 'traces') throw new ApiError(501, { message: 'the traces view is not modelled by this stand-in', error: 'NotImplemented' });
      const view = views(v2)[query.view] as ViewModel;
      if (v2) {
        const high = query.dimensions.find((d) => view.highCardinality.includes(d.field));
        if (high && query.config?.row_limit === undefined) {
          throw invalidRequest(`Dimension '${high.field}' has high cardinality: grouping by it requires an explicit config.row_limit.`);
        }
      }
      const data = evaluate(view, { ...query, config: { ...query.config, row_limit: query.config?.row_limit ?? (v2 ? 100 : 1000) } });
      return answer({ status: 200, body: { data } });
    } catch (error) {
      if (error instanceof ApiError) return answer({ status: error.status, body: error.body });
      throw error;
    }
  };

  return {
    scores,
    scoreRequests,
    observations,
    metricsRequests,
    setMetricsApi(mode) {
      metricsApi = mode;
    },
    setScoreFault(fault) {
      scoreFault = fault;
    },
    handle(req) {
      if (req.pathname === '/api/public/scores' && req.method === 'POST') {
        let response: LangfuseExtraResponse | undefined;
        try {
          response = postScore(req);
          return response;
        } finally {
          let body: unknown;
          try {
            body = JSON.parse(req.rawBody.toString('utf8'));
          } catch {
            body = req.rawBody.toString('utf8');
          }
          scoreRequests.push({ status: response?.status ?? 401, body, at: now() });
        }
      }
      if (req.pathname === '/api/public/otel/v1/traces' && req.method === 'POST') return postOtlp(req);
      if (req.pathname === '/api/public/v2/metrics' && req.method === 'GET') return getMetrics(req, true);
      if (req.pathname === '/api/public/metrics' && req.method === 'GET') return getMetrics(req, false);
      return undefined;
    },
    waitFor(predicate, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      return new Promise<void>((resolve, reject) => {
        const tick = () => {
          if (predicate()) return resolve();
          if (Date.now() > deadline) return reject(new Error(`stand-in: timed out after ${timeoutMs} ms waiting for ${what}`));
          setTimeout(tick, 20);
        };
        tick();
      });
    },
    reset() {
      scoreFault = null;
      scores.clear();
      scoreRequests.length = 0;
      observations.length = 0;
      metricsRequests.length = 0;
      byId.clear();
    },
  };
}

export type LangfuseStandIn = LangfusePromptStandIn & { quality: LangfuseQualityRoutes };

/** The prompt stand-in with scores, metrics and OTLP ingestion on the same port. */
export async function startLangfuseStandIn(
  options: Omit<LangfusePromptStandInOptions, 'extraRoutes'> & { metricsApi?: MetricsApiMode } = {},
): Promise<LangfuseStandIn> {
  const quality = createLangfuseQualityRoutes({ metricsApi: options.metricsApi });
  const prompts = await startLangfusePromptStandIn({ ...options, extraRoutes: quality });
  return Object.assign(prompts, { quality });
}

/** The repo's prompt file as `npm run prompts -- seed` leaves it in Langfuse. */
export function repoPromptSeeds() {
  return promptVersions(readPromptFile('prompts/order-status-answer.json')).map((v) => ({ ...v, type: 'chat' as const }));
}

if (isDirectRun(import.meta.url)) {
  const args = parseCliArgs(process.argv.slice(2));
  await runStandalone(() =>
    startLangfuseStandIn({
      port: Number(args.get('port') ?? 0),
      host: args.get('host'),
      publicKey: args.get('public-key'),
      secretKey: args.get('secret-key'),
      prompts: args.flag('seed-repo-prompts') ? repoPromptSeeds() : [],
      metricsApi: (args.get('metrics-api') as MetricsApiMode | undefined) ?? 'v4',
    }),
  );
}
