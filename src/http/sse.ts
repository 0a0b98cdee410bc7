import type {} from '@fastify/sse';
import type { FastifyReply } from 'fastify';

/** Held-back events flush early at this many: a fast model and a stalled flush do not pile up tokens. */
const MAX_PENDING = 16;

interface PendingEvent {
  event: string;
  data: unknown;
}

/**
 * One server-sent-events response, framed and flow-controlled by @fastify/sse (`reply.sse`, on a
 * route registered with `sse: 'manual'`). Nothing is written until the first event: until then
 * the route can still fail with an ordinary JSON error. The first event takes the reply over
 * from Fastify (`reply.hijack()`), so nothing later tries to serialize a second response.
 *
 * Events sent with `coalesce` (answer tokens after the first) wait up to `coalesceMs` and go out
 * together: one socket write for several tokens instead of one each, the largest per-token cost
 * of a streamed answer. Node's HTTP response corks its socket for the rest of a tick, so sending
 * them in one tick is one write. Any other event flushes them first, so the order never changes;
 * at most MAX_PENDING wait, and while the socket drains senders wait too (back-pressure holds).
 * `coalesceMs` 0 writes every event at once.
 */
export class EventStream {
  private begun = false;
  private pending: PendingEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Set while the last flush waits for the socket to drain: coalesced senders wait on it. */
  private draining: Promise<void> | undefined;

  constructor(
    private readonly reply: FastifyReply,
    private readonly coalesceMs = 0,
  ) {}

  /** Whether the first byte went out (from then on, failures are `error` events). */
  get started(): boolean {
    return this.begun;
  }

  /** Whether the client is still there. */
  get connected(): boolean {
    return this.reply.sse.isConnected;
  }

  /**
   * Sends `event: <name>` with `data` as JSON. Resolves once the socket accepted it (after
   * `drain` when its buffer was full), so a slow reader slows the sender; does nothing once the
   * client has gone. With `coalesce`, it may be held back up to `coalesceMs` (see the class).
   */
  send(event: string, data: unknown, options: { coalesce?: boolean } = {}): Promise<void> {
    if (!this.begun) {
      this.begun = true;
      this.reply.hijack();
    }
    if (!this.reply.sse.isConnected) return Promise.resolve();
    if (options.coalesce && this.coalesceMs > 0) {
      this.pending.push({ event, data });
      if (this.pending.length >= MAX_PENDING) return this.flush() ?? Promise.resolve();
      this.flushTimer ??= setTimeout(() => void this.flush(), this.coalesceMs);
      return this.draining ?? Promise.resolve();
    }
    const earlier = this.flush();
    const written = this.reply.sse.send({ event, data });
    return earlier ? Promise.all([earlier, written]).then(() => undefined) : written;
  }

  /** Stops holding events back (the stream ended or the client left); pending ones are dropped. */
  close(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pending = [];
  }

  /** Writes the held-back events in this tick; returns when the socket took them, if any. */
  private flush(): Promise<void> | undefined {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return undefined;
    const events = this.pending;
    this.pending = [];
    if (!this.reply.sse.isConnected) return undefined;
    const settled = () => {
      if (this.draining === draining) this.draining = undefined;
    };
    // Never rejects: @fastify/sse settles a write on a closed connection quietly, and a timer's
    // flush has nobody to report to; the next event (`done`/`error`) sees the state itself.
    const draining = Promise.all(events.map((e) => this.reply.sse.send(e))).then(settled, settled);
    this.draining = draining;
    return draining;
  }
}
