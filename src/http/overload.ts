import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './error-handler.js';

const COUNTED = Symbol('counted-in-flight');

/**
 * Back-pressure: at most `limit` requests in flight in this scope; the rest get
 * an immediate 503 with Retry-After instead of queueing until everything is slow.
 */
export function limitInFlight(app: FastifyInstance, limit: number): void {
  let inFlight = 0;
  const release = (request: FastifyRequest) => {
    const r = request as FastifyRequest & { [COUNTED]?: boolean };
    if (r[COUNTED]) {
      r[COUNTED] = false;
      inFlight -= 1;
    }
  };
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (inFlight >= limit) {
      return reply.code(503).header('retry-after', '1').send(errorBody('overloaded', 'too many requests in flight; retry shortly'));
    }
    inFlight += 1;
    (request as FastifyRequest & { [COUNTED]?: boolean })[COUNTED] = true;
    // A response that never finishes normally (a streaming client that went away) still frees its slot.
    reply.raw.once('close', () => release(request));
  });
  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => release(request));
}

declare module 'fastify' {
  interface FastifyInstance {
    /** True once the server has started to close (SIGTERM): finish in-flight work, keep no connection. */
    readonly isDraining: boolean;
  }
}

/**
 * While the server drains, every response says `connection: close`, so
 * keep-alive clients reconnect elsewhere instead of holding the socket open.
 * (A streamed response sent its headers before the drain began: see closeAfterResponse.)
 */
export function closeConnectionsWhileDraining(app: FastifyInstance): void {
  let draining = false;
  app.decorate('isDraining', {
    getter: () => draining,
  });
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (draining) reply.header('connection', 'close');
    return payload;
  });
}

/**
 * Ends the keep-alive connection once this response has finished: for a response whose headers
 * went out before the drain began (a stream), which `connection: close` can no longer reach.
 */
export function closeAfterResponse(reply: FastifyReply): void {
  const socket = reply.raw.socket;
  reply.raw.once('finish', () => socket?.end());
}
