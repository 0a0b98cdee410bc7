import type {} from '@fastify/sse';
import type { FastifyReply } from 'fastify';

/**
 * One server-sent-events response, framed and flow-controlled by @fastify/sse (`reply.sse`, on a
 * route registered with `sse: 'manual'`). Nothing is written until the first event: until then
 * the route can still fail with an ordinary JSON error. The first event takes the reply over
 * from Fastify (`reply.hijack()`), so nothing later tries to serialize a second response.
 */
export class EventStream {
  private begun = false;

  constructor(private readonly reply: FastifyReply) {}

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
   * client has gone.
   */
  async send(event: string, data: unknown): Promise<void> {
    if (!this.begun) {
      this.begun = true;
      this.reply.hijack();
    }
    if (!this.reply.sse.isConnected) return;
    await this.reply.sse.send({ event, data });
  }
}
