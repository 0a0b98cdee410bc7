import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

export type ScoreDataType = 'NUMERIC' | 'CATEGORICAL' | 'BOOLEAN' | 'TEXT';

/**
 * A Langfuse score, as `POST /api/public/scores` takes it. Exactly one target:
 * `traceId` (optionally with `observationId`), `sessionId` or `datasetRunId`.
 * `id` makes it an upsert (a resubmission overwrites); the sink assigns one when
 * absent so a retried request never creates a duplicate.
 */
export interface ScoreBody {
  id?: string;
  name: string;
  value: number | string;
  dataType?: ScoreDataType;
  traceId?: string;
  observationId?: string;
  sessionId?: string;
  datasetRunId?: string;
  comment?: string;
  metadata?: Record<string, unknown>;
  environment?: string;
  configId?: string;
  queueId?: string;
}

/** What became of one score handed to a sink. */
export type ScoreOutcome = 'queued' | 'dropped' | 'not_sent';

/**
 * The single place to observe scores as they are produced (e.g. a metrics counter):
 * called synchronously for every `enqueue`, with the outcome.
 */
export type ScoreObserver = (score: Readonly<ScoreBody>, outcome: ScoreOutcome) => void;

export interface ScoreSinkStats {
  /** Accepted into the queue (a resubmission of a queued id counts again). */
  queued: number;
  delivered: number;
  /** Retried after a network error, timeout, 429 or 5xx. */
  retries: number;
  /** Refused by Langfuse with a permanent 4xx: dropped, logged. */
  rejected: number;
  /** Dropped because the queue was full (the newest score is the one dropped). */
  dropped: number;
  /** Still queued or in flight when the shutdown deadline passed. */
  lost: number;
  /** Not sent by design (local prompt mode). */
  notSent: number;
  /** Waiting or in flight right now. */
  pending: number;
}

/** Where scores go. The request path only ever calls `enqueue`, which never blocks. */
export interface ScoreSink {
  /** False when scores are recorded nowhere (local prompt mode). */
  readonly sending: boolean;
  enqueue(score: ScoreBody): ScoreOutcome;
  stats(): ScoreSinkStats;
  /** Resolves true once nothing is queued or in flight, false at the timeout. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stops accepting, delivers what it can until `deadline` (epoch ms), then gives up on the rest (counted as lost). */
  close(deadline: number): Promise<ScoreSinkStats>;
}

/** A failed delivery, classified. */
export class ScoreDeliveryError extends Error {
  override name = 'ScoreDeliveryError';
  constructor(
    message: string,
    /** Retry (network error, timeout, 429, 5xx) or drop (any other 4xx). */
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Sends one score; throws ScoreDeliveryError. Aborted through `signal` at the shutdown deadline. */
export type ScoreTransport = (score: ScoreBody & { id: string }, signal: AbortSignal) => Promise<void>;

const emptyStats = (): Omit<ScoreSinkStats, 'pending'> => ({ queued: 0, delivered: 0, retries: 0, rejected: 0, dropped: 0, lost: 0, notSent: 0 });

/** Local prompt mode: scores are counted and discarded (announced once at start-up). */
export class DisabledScoreSink implements ScoreSink {
  readonly sending = false;
  private readonly counts = emptyStats();

  constructor(private readonly observer?: ScoreObserver) {}

  enqueue(score: ScoreBody): ScoreOutcome {
    this.counts.notSent += 1;
    this.observer?.(score, 'not_sent');
    return 'not_sent';
  }
  stats(): ScoreSinkStats {
    return { ...this.counts, pending: 0 };
  }
  flush(): Promise<boolean> {
    return Promise.resolve(true);
  }
  close(): Promise<ScoreSinkStats> {
    return Promise.resolve(this.stats());
  }
}

export interface QueuedScoreSinkOptions {
  transport: ScoreTransport;
  logger: Logger;
  /** Scores waiting at most (in flight ones come on top). */
  capacity: number;
  /** Requests in flight at most. */
  concurrency: number;
  /** First retry delay; doubles per consecutive failure, with jitter. */
  baseDelayMs?: number;
  maxDelayMs: number;
  observer?: ScoreObserver;
  random?: () => number;
  now?: () => number;
}

type Queued = ScoreBody & { id: string };

/**
 * Background delivery for scores: a bounded queue keyed by score id (a newer
 * score with a queued id replaces it in place: one vote per answer), up to
 * `concurrency` requests in flight, never two for the same id. Network errors,
 * timeouts, 429 and 5xx back the whole sink off (exponential, jitter,
 * Retry-After honoured) and the score is retried; other 4xx are dropped and
 * logged once per status. A full queue drops the newest score and counts it.
 */
export class QueuedScoreSink implements ScoreSink {
  readonly sending = true;
  private readonly queue = new Map<string, Queued>();
  private readonly inFlight = new Map<string, AbortController>();
  private readonly counts = emptyStats();
  private readonly baseDelayMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private consecutiveFailures = 0;
  private backoffUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private failingSince: number | undefined;
  private queueFullLogged = false;
  private readonly rejectionsLogged = new Set<number | undefined>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: QueuedScoreSinkOptions) {
    this.baseDelayMs = Math.min(options.baseDelayMs ?? 500, options.maxDelayMs);
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  enqueue(score: ScoreBody): ScoreOutcome {
    const queued: Queued = { ...score, id: score.id ?? randomUUID() };
    if (this.closing) return this.drop(queued, 'the sink is closed');
    if (!this.queue.has(queued.id) && this.queue.size >= this.options.capacity) return this.drop(queued, 'the queue is full');
    // Map.set on a queued id keeps its place in line: the newest value wins, no duplicate request.
    this.queue.set(queued.id, queued);
    this.counts.queued += 1;
    this.options.observer?.(queued, 'queued');
    this.pump();
    return 'queued';
  }

  stats(): ScoreSinkStats {
    return { ...this.counts, pending: this.queue.size + this.inFlight.size };
  }

  flush(timeoutMs: number): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  async close(deadline: number): Promise<ScoreSinkStats> {
    this.closing = true;
    // Shutdown is no time for a long back-off: retry within a second.
    if (this.backoffUntil > this.now() + 1_000) {
      this.backoffUntil = this.now() + 1_000;
      this.schedule();
    }
    const delivered = await this.flush(Math.max(0, deadline - this.now()));
    if (!delivered) {
      const lost = this.queue.size + this.inFlight.size;
      this.counts.lost += lost;
      this.queue.clear();
      for (const controller of this.inFlight.values()) controller.abort(new Error('score sink closed'));
      this.inFlight.clear();
      if (this.timer) clearTimeout(this.timer);
      this.options.logger.warn({ lost }, 'score delivery did not finish before the shutdown deadline; scores lost');
    }
    return this.stats();
  }

  // --- delivery loop ------------------------------------------------------------------------

  private pump(): void {
    const now = this.now();
    if (now < this.backoffUntil) {
      this.schedule();
      return;
    }
    for (const [id, score] of this.queue) {
      if (this.inFlight.size >= this.options.concurrency) break;
      if (this.inFlight.has(id)) continue;
      this.queue.delete(id);
      this.send(score);
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(0, this.backoffUntil - this.now()),
    );
    // Never what keeps a process alive: close() holds its own deadline timer.
    this.timer.unref();
  }

  private send(score: Queued): void {
    const controller = new AbortController();
    this.inFlight.set(score.id, controller);
    this.options.transport(score, controller.signal).then(
      () => this.settle(score, controller, undefined),
      (error: unknown) => this.settle(score, controller, error),
    );
  }

  private settle(score: Queued, controller: AbortController, error: unknown): void {
    // Aborted at the deadline: already counted as lost.
    if (this.inFlight.get(score.id) !== controller) return;
    this.inFlight.delete(score.id);
    if (error === undefined) this.delivered();
    else this.failed(score, error);
    this.pump();
    if (this.idle()) {
      this.queueFullLogged = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private delivered(): void {
    this.counts.delivered += 1;
    this.consecutiveFailures = 0;
    if (this.failingSince !== undefined) {
      this.options.logger.info({ outageMs: this.now() - this.failingSince, ...this.stats() }, 'score delivery recovered');
      this.failingSince = undefined;
    }
  }

  private failed(score: Queued, error: unknown): void {
    const failure = error instanceof ScoreDeliveryError ? error : new ScoreDeliveryError(String(error), true);
    if (!failure.retryable) {
      this.counts.rejected += 1;
      if (!this.rejectionsLogged.has(failure.status)) {
        this.rejectionsLogged.add(failure.status);
        this.options.logger.warn(
          { status: failure.status, score: score.name, err: failure.message },
          'Langfuse rejected a score; dropped, not retried (logged once per status)',
        );
      }
      return;
    }
    this.counts.retries += 1;
    // A newer value for the same id arrived meanwhile: it supersedes this one.
    if (!this.queue.has(score.id)) this.requeueFirst(score);
    this.consecutiveFailures += 1;
    const exponential = this.baseDelayMs * 2 ** Math.min(this.consecutiveFailures - 1, 20);
    const cap = this.closing ? Math.min(1_000, this.options.maxDelayMs) : this.options.maxDelayMs;
    const delay = Math.min(cap, Math.max(exponential * (0.5 + this.random() / 2), failure.retryAfterMs ?? 0));
    this.backoffUntil = Math.max(this.backoffUntil, this.now() + delay);
    if (this.failingSince === undefined) {
      this.failingSince = this.now();
      this.options.logger.warn(
        { status: failure.status, err: failure.message, pending: this.queue.size + this.inFlight.size },
        'score delivery failing; scores stay queued (bounded) and are retried with back-off',
      );
    }
  }

  private requeueFirst(score: Queued): void {
    const rest = [...this.queue];
    this.queue.clear();
    this.queue.set(score.id, score);
    for (const [id, s] of rest) this.queue.set(id, s);
  }

  private drop(score: Queued, why: string): ScoreOutcome {
    this.counts.dropped += 1;
    this.options.observer?.(score, 'dropped');
    if (!this.queueFullLogged) {
      this.queueFullLogged = true;
      this.options.logger.warn({ capacity: this.options.capacity, why }, 'score dropped (counted in the stopped log line; logged once)');
    }
    return 'dropped';
  }

  private idle(): boolean {
    return this.queue.size === 0 && this.inFlight.size === 0;
  }
}
