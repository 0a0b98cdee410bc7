import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { PromptUnavailableError } from '../errors.js';
import { ServiceMetrics } from '../telemetry/metrics.js';
import { errorType } from '../telemetry/spans.js';
import type { PromptSnapshotStore, SnapshotEntry } from './prompt-snapshot.js';
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
  /** Written after successful fetches; read when a label was never fetched and Langfuse is unreachable. */
  snapshot?: PromptSnapshotStore;
}

interface CacheEntry {
  template: PromptTemplate;
  fetchedAt: number;
  lastErrorType?: string;
  /** Restored from the snapshot: served as `cache` until a fetch succeeds. */
  restored?: boolean;
}

/** A restored entry fetched later than this (clock skew or a doctored file) is not trusted. */
const SNAPSHOT_FUTURE_TOLERANCE_MS = 60_000;

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
  /** Labels whose last fetch was a 404: the snapshot must not bring them back. */
  private readonly notFound = new Set<string>();
  /** Labels already looked up in the snapshot (once each: its content does not change). */
  private readonly snapshotChecked = new Set<string>();

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
    if (age >= this.refreshAheadMs || entry.restored) this.refreshInBackground(label);
    if (age < this.ttlMs && !entry.restored) return { template: entry.template, source: this.source.kind };
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

  /**
   * Refetches `labels` now (a prompt changed in Langfuse): no refresh-ahead wait, no back-off.
   * A fetch already in flight may predate the change, so one more follows it. Never throws;
   * a label Langfuse no longer has is dropped (fail closed), as on any fetch.
   */
  async refresh(labels: readonly string[]): Promise<void> {
    await Promise.all(
      labels.map((label) => {
        const running = this.inflight.get(label);
        const fetched = running ? running.then(noop, noop).then(() => this.fetch(label)) : this.fetch(label);
        return fetched.catch(noop);
      }),
    );
  }

  /** Labels this process serves or keeps warm. */
  servedLabels(): string[] {
    return [...this.wanted];
  }

  /** Labels whose cached template is `version`: a change to that version concerns them. */
  labelsServingVersion(version: number): string[] {
    return [...this.entries].filter(([, entry]) => entry.template.version === version).map(([label]) => label);
  }

  /** The version each cached label serves (for logs and tests). */
  servedVersions(): Record<string, number> {
    return Object.fromEntries([...this.entries].map(([label, entry]) => [label, entry.template.version]));
  }

  /** Writes the snapshot's pending save (shutdown). */
  async flushSnapshot(): Promise<void> {
    await this.options.snapshot?.flush();
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
      return !entry || entry.restored || this.age(entry) >= this.refreshAheadMs;
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
    const source = this.source;
    const promise = withTimeout(source.fetch(this.options.promptName, label), this.options.fetchTimeoutMs)
      .then(
        (template) => {
          const previous = this.entries.get(label);
          this.entries.set(label, { template, fetchedAt: this.options.clock.now() });
          this.notFound.delete(label);
          if (this.failedAt.delete(label)) this.options.logger.info({ label }, 'prompt fetch recovered');
          if (previous && previous.template.version !== template.version) {
            this.options.logger.info({ label, from: previous.template.version, to: template.version }, 'prompt label now serves another version');
          }
          // Only what the configured source returned: a test or scenario seam must not overwrite the snapshot.
          if (source === this.options.source) this.saveSnapshot();
          return template;
        },
        (error: unknown) => {
          const type = errorType(error);
          const entry = this.entries.get(label);
          // Logged once per outage (and once on recovery), not per attempt.
          if (!this.failedAt.has(label)) this.options.logger.warn({ label, errorType: type }, 'prompt fetch failing');
          this.failedAt.set(label, this.options.clock.now());
          if (error instanceof PromptNotFoundError) {
            // The label was removed or never existed: never keep serving an old version of it.
            this.notFound.add(label);
            if (entry) {
              this.entries.delete(label);
              this.saveSnapshot();
            }
          } else if (entry) {
            entry.lastErrorType = type;
          } else if (this.options.snapshot) {
            return this.restoreFromSnapshot(label, type).then(() => Promise.reject(error));
          }
          throw error;
        },
      )
      .finally(() => this.inflight.delete(label));
    this.inflight.set(label, promise);
    return promise;
  }

  private saveSnapshot(): void {
    this.options.snapshot?.save([...this.entries].map(([label, { template, fetchedAt }]): SnapshotEntry => ({ label, template, fetchedAt })));
  }

  /**
   * Cold start with Langfuse unreachable: the snapshot's template for `label`, if it is younger
   * than PROMPT_MAX_STALE_SECONDS by its fetch time, is served as `cache` with its version.
   */
  private async restoreFromSnapshot(label: string, errorTypeName: string): Promise<void> {
    const snapshot = this.options.snapshot;
    if (!snapshot || this.snapshotChecked.has(label)) return;
    this.snapshotChecked.add(label);
    const saved = (await snapshot.load().catch(() => undefined))?.get(label);
    // Never a label Langfuse has said it does not have; never over a template fetched meanwhile.
    if (!saved || this.entries.has(label) || this.notFound.has(label)) return;
    const now = this.options.clock.now();
    const age = now - saved.fetchedAt;
    if (age >= this.maxStaleMs || age < -SNAPSHOT_FUTURE_TOLERANCE_MS) {
      this.options.logger.warn({ label, version: saved.template.version, ageSeconds: Math.round(age / 1000) }, 'prompt snapshot too old to serve (PROMPT_MAX_STALE_SECONDS): ignored');
      return;
    }
    this.entries.set(label, { template: saved.template, fetchedAt: Math.min(saved.fetchedAt, now), lastErrorType: errorTypeName, restored: true });
    this.options.logger.warn(
      { label, version: saved.template.version, ageSeconds: Math.round(age / 1000), errorType: errorTypeName },
      'Langfuse unreachable at start-up: serving the prompt snapshot as cache',
    );
  }

  private unavailable(label: string, error: unknown): PromptUnavailableError {
    const reason = error instanceof PromptNotFoundError ? 'label not found' : 'fetch failed and no usable cached template';
    return new PromptUnavailableError(`prompt '${this.options.promptName}' label '${label}': ${reason}`, label, errorType(error));
  }
}

const noop = (): void => undefined;

/** Guards against a source that ignores its own timeout (a hung connection). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PromptFetchTimeoutError(`prompt fetch exceeded ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
