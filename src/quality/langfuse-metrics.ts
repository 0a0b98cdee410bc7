import type { LangfuseClient } from '@langfuse/client';

/** The query object of Langfuse's metrics API (LANGFUSE-API.md §3). */
export interface MetricsQuery {
  view: 'observations' | 'scores-numeric' | 'scores-categorical' | 'scores-boolean';
  dimensions?: { field: string }[];
  metrics: { measure: string; aggregation: 'sum' | 'avg' | 'count' | 'max' | 'min' | 'p50' | 'p75' | 'p90' | 'p95' | 'p99' | 'uniq' }[];
  filters?: { column: string; operator: string; value: unknown; type: string }[];
  fromTimestamp: string;
  toTimestamp: string;
  config?: { row_limit?: number };
}

export type MetricsRow = Record<string, unknown>;

export class MetricsApiError extends Error {
  override name = 'MetricsApiError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const statusOf = (error: unknown) => (error as { statusCode?: unknown } | null)?.statusCode;

function describe(error: unknown, endpoint: string, baseUrl: string): MetricsApiError {
  const status = statusOf(error);
  if (typeof status === 'number') {
    const body = (error as { body?: unknown }).body;
    const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : `HTTP ${status}`;
    if (status === 401) return new MetricsApiError(`Langfuse rejected the keys (401): ${message}. Check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY.`, status);
    return new MetricsApiError(`Langfuse answered ${status} to ${endpoint}: ${message}`, status);
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new MetricsApiError(`cannot query Langfuse at ${baseUrl} (${endpoint}): ${reason}. Check LANGFUSE_BASE_URL and that Langfuse is running.`);
}

/**
 * Langfuse's metrics API through @langfuse/client: `GET /api/public/v2/metrics`
 * (Langfuse v4), falling back to `GET /api/public/metrics` (v3) when v2 answers
 * 404; the first answer decides for the rest of the process.
 */
export class LangfuseMetrics {
  private version: 'v2' | 'v1' | undefined;

  constructor(
    private readonly client: LangfuseClient,
    private readonly options: { baseUrl: string; timeoutMs: number },
  ) {}

  /** Which endpoint answered (after the first query). */
  get endpoint(): 'v2' | 'v1' | undefined {
    return this.version;
  }

  async query(query: MetricsQuery): Promise<MetricsRow[]> {
    const request = { query: JSON.stringify(query) };
    const requestOptions = () => ({ timeoutInSeconds: this.options.timeoutMs / 1000, maxRetries: 1, abortSignal: AbortSignal.timeout(this.options.timeoutMs) });
    if (this.version !== 'v1') {
      try {
        const response = await this.client.api.metrics.metrics(request, requestOptions());
        this.version = 'v2';
        return response.data;
      } catch (error) {
        if (this.version === 'v2' || statusOf(error) !== 404) throw describe(error, 'GET /api/public/v2/metrics', this.options.baseUrl);
      }
    }
    try {
      const response = await this.client.api.legacy.metricsV1.metrics(request, requestOptions());
      this.version = 'v1';
      return response.data;
    } catch (error) {
      if (this.version === undefined && statusOf(error) === 404) {
        throw new MetricsApiError(`Langfuse at ${this.options.baseUrl} has no metrics API (both /api/public/v2/metrics and /api/public/metrics answered 404)`, 404);
      }
      throw describe(error, 'GET /api/public/metrics', this.options.baseUrl);
    }
  }
}

/** Metric values may come as strings (ClickHouse UInt64): numbers or undefined. */
export function numberOf(value: unknown): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : undefined;
}
