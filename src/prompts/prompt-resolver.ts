import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { PromptUnavailableError } from '../errors.js';
import { ServiceMetrics } from '../telemetry/metrics.js';
import { errorType } from '../telemetry/spans.js';
import { PromptFetchTimeoutError, PromptNotFoundError, type PromptSource } from './prompt-source.js';
import type { PromptTemplate } from './prompt-template.js';

export interface ResolvedPrompt {
  template: PromptTemplate;
  /** `langfuse`/`local` while fresh; `cache` when served past the TTL because refreshing failed. */
  source: 'langfuse' | 'local' | 'cache';
  /** Why the cache is serving (the last fetch error class), when `source` is `cache`. */
  fallbackErrorType?: string;
}

export interface PromptResolverOptions {
  promptName: string;
  source: PromptSource;
  clock: Clock;
  logger: Logger;
  ttlSeconds: number;
  maxStaleSeconds: number;
  fetchTimeoutMs: number;
  /** `app.prompt.resolutions` per resolve (default: no-op). */
  metrics?: ServiceMetrics;
  /** Refresh in the background once a template is this far into its TTL. */
  refreshAheadRatio?: number;
}

interface CacheEntry {
  template: PromptTemplate;
  fetchedAt: number;
  lastErrorType?: string;
}

/**
 * Owns the per-label template cache (SPEC §4): requests never wait on a
 * refresh while a usable template is cached, one fetch per label is in
 * flight, staleness is bounded, and a missing label fails closed.
 */
export class PromptResolver {
  private source: PromptSource;
  private readonly entries = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<PromptTemplate>>();
  /** Labels kept warm in the background (warmed at start-up or requested since). */
  private readonly wanted = new Set<string>();
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly refreshAheadMs: number;
  private timer: NodeJS.Timeout | undefined;
  private fetches = 0;
  /** When each label's last fetch failed: background retries back off from it. */
  private readonly failedAt = new Map<string, number>();
  private readonly retryBackoffMs: number;
  private readonly metrics: ServiceMetrics;

  constructor(private readonly options: PromptResolverOptions) {
    this.source = options.source;
    this.metrics = options.metrics ?? ServiceMetrics.noop();
    this.ttlMs = options.ttlSeconds * 1000;
    this.maxStaleMs = options.maxStaleSeconds * 1000;
    this.refreshAheadMs = this.ttlMs * (options.refreshAheadRatio ?? 0.8);
    this.retryBackoffMs = Math.min(5_000, this.ttlMs / 4);
  }

  get sourceKind(): 'langfuse' | 'local' {
    return this.source.kind;
  }

  /** Prompt fetches made so far (benchmarks check the hot path does none). */
  get fetchCount(): number {
    return this.fetches;
  }

  /**
   * The template for `label`. `mustFetch` makes this run fetch now (the CLI
   * scenarios do, as the book's runs do) and fall back to the cache on failure.
   */
  async resolve(label: string, options: { mustFetch?: boolean } = {}): Promise<ResolvedPrompt> {
    try {
      const resolved = await this.resolveTemplate(label, options);
      this.metrics.recordPromptResolution(label, resolved.template.version, resolved.source);
      return resolved;
    } catch (error) {
      if (error instanceof PromptUnavailableError) this.metrics.recordPromptResolution(label, undefined, 'unavailable');
      throw error;
    }
  }

  private async resolveTemplate(label: string, { mustFetch = false }: { mustFetch?: boolean }): Promise<ResolvedPrompt> {
    this.wanted.add(label);
    const entry = this.entries.get(label);
    if (!entry || mustFetch) {
      try {
        return { template: await this.fetch(label), source: this.source.kind };
      } catch (error) {
        const cached = this.entries.get(label);
        if (cached && !(error instanceof PromptNotFoundError) && this.age(cached) < this.maxStaleMs) {
          return { template: cached.template, source: 'cache', fallbackErrorType: errorType(error) };
        }
        throw this.unavailable(label, error);
      }
    }
    const age = this.age(entry);
    if (age >= this.refreshAheadMs) this.refreshInBackground(label);
    if (age < this.ttlMs) return { template: entry.template, source: this.source.kind };
    if (age < this.maxStaleMs) {
      return { template: entry.template, source: 'cache', fallbackErrorType: entry.lastErrorType ?? 'RefreshPending' };
    }
    throw new PromptUnavailableError(
      `prompt '${this.options.promptName}' label '${label}' is stale beyond PROMPT_MAX_STALE_SECONDS`,
      label,
      entry.lastErrorType ?? 'StaleTemplate',
    );
  }

  /** Fetches the labels now; failures are logged and retried in the background, never thrown. */
  async warm(labels: readonly string[]): Promise<void> {
    for (const label of labels) this.wanted.add(label);
    await Promise.all(labels.map((label) => this.fetch(label).catch(() => undefined)));
  }

  /** Whether `label` can be served right now without failing closed. */
  isResolvable(label: string): boolean {
    const entry = this.entries.get(label);
    return entry !== undefined && this.age(entry) < this.maxStaleMs;
  }

  /** Starts the background refresh loop (unref'd: it never keeps the process alive). */
  startBackgroundRefresh(): void {
    if (this.timer) return;
    const period = Math.max(250, Math.min(this.ttlMs / 4, 15_000));
    this.timer = setInterval(() => void this.refreshDue(), period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass of the refresh loop: fetch every wanted label that is missing or due. */
  async refreshDue(): Promise<void> {
    const due = [...this.wanted].filter((label) => {
      const entry = this.entries.get(label);
      return !entry || this.age(entry) >= this.refreshAheadMs;
    });
    await Promise.all(due.map((label) => this.fetch(label).catch(() => undefined)));
  }

  /**
   * Injection seam: serve fetches from `source` until the returned function
   * is called. The cache is kept, which is what a fallback scenario needs.
   */
  replaceSource(source: PromptSource): () => void {
    const previous = this.source;
    this.source = source;
    return () => {
      this.source = previous;
    };
  }

  private age(entry: CacheEntry): number {
    return this.options.clock.now() - entry.fetchedAt;
  }

  /** At most one refresh in flight, and none sooner than the back-off after a failure (no retry storm). */
  private refreshInBackground(label: string): void {
    if (this.inflight.has(label)) return;
    const failed = this.failedAt.get(label);
    if (failed !== undefined && this.options.clock.now() - failed < this.retryBackoffMs) return;
    this.fetch(label).catch(() => undefined);
  }

  /** Single flight per label; updates the cache on success, records the error class on failure. */
  private fetch(label: string): Promise<PromptTemplate> {
    const running = this.inflight.get(label);
    if (running) return running;
    this.fetches += 1;
    const promise = withTimeout(this.source.fetch(this.options.promptName, label), this.options.fetchTimeoutMs)
      .then(
        (template) => {
          this.entries.set(label, { template, fetchedAt: this.options.clock.now() });
          if (this.failedAt.delete(label)) this.options.logger.info({ label }, 'prompt fetch recovered');
          return template;
        },
        (error: unknown) => {
          const type = errorType(error);
          const entry = this.entries.get(label);
          if (error instanceof PromptNotFoundError) {
            // The label was removed or never existed: never keep serving an old version of it.
            this.entries.delete(label);
          } else if (entry) {
            entry.lastErrorType = type;
          }
          // Logged once per outage (and once on recovery), not per attempt.
          if (!this.failedAt.has(label)) this.options.logger.warn({ label, errorType: type }, 'prompt fetch failing');
          this.failedAt.set(label, this.options.clock.now());
          throw error;
        },
      )
      .finally(() => this.inflight.delete(label));
    this.inflight.set(label, promise);
    return promise;
  }

  private unavailable(label: string, error: unknown): PromptUnavailableError {
    const reason = error instanceof PromptNotFoundError ? 'label not found' : 'fetch failed and no usable cached template';
    return new PromptUnavailableError(`prompt '${this.options.promptName}' label '${label}': ${reason}`, label, errorType(error));
  }
}

/** Guards against a source that ignores its own timeout (a hung connection). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PromptFetchTimeoutError(`prompt fetch exceeded ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
