import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AgentStreamEvent } from '../../agent/stream-updates.js';
import { RunCancelledError } from '../../errors.js';
import { describeFailure, logFailure } from '../error-handler.js';
import { closeAfterResponse } from '../overload.js';
import { errorBody as errorBodySchema, orderStatusRequest, orderStatusStreamEvent } from '../schemas.js';
import { EventStream } from '../sse.js';
import { orderStatusBody } from '../order-status-body.js';
import { prepareRun, type OrderStatusRouteOptions } from './order-status.js';

/**
 * `POST /order-status/stream` (SPEC §12, book ch 14 + 26): the `/order-status` body, auth and
 * limits, answered as server-sent events: `metadata`, an `update` per graph step (sanitized),
 * `token`s as the model writes the answer, then `done` (the `/order-status` 200 body) or `error`.
 * Errors before the first event are ordinary JSON errors. A client that disconnects cancels the
 * run and its model request.
 */
export const orderStatusStreamRoutes: FastifyPluginAsyncZod<OrderStatusRouteOptions> = async (app, options) => {
  app.post(
    '/order-status/stream',
    {
      // No Accept negotiation: this route always streams (as OpenAI-style streaming APIs do).
      sse: 'manual',
      schema: {
        tags: ['agent'],
        summary: 'The same question, answered as server-sent events: graph updates, answer tokens, then the /order-status body',
        body: orderStatusRequest,
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: orderStatusStreamEvent } } },
          400: errorBodySchema,
          401: errorBodySchema,
          429: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const prepared = prepareRun(request, request.body, options, ['streaming']);
      if ('error' in prepared) return reply.code(400).send(prepared);
      const events = new EventStream(reply, options.streamTokenCoalesceMs);
      let tokens = 0;
      const clientGone = new AbortController();
      let finished = false;
      reply.raw.once('close', () => {
        if (!finished) clientGone.abort(new RunCancelledError());
      });

      const forward = (event: AgentStreamEvent): Promise<void> => {
        switch (event.type) {
          case 'started':
            return events.send('metadata', { conversation_id: prepared.conversationId, ...(event.traceId ? { trace_id: event.traceId } : {}) });
          case 'update':
            return events.send('update', event.update);
          case 'token':
            // The first token goes out at once (time to first token); later ones may be coalesced.
            return events.send('token', { text: event.text }, { coalesce: tokens++ > 0 });
        }
      };
      try {
        const run = await prepared.inRequestContext(() =>
          options.agent.stream(prepared.input, { traceContext: prepared.traceContext, signal: clientGone.signal }, forward),
        );
        await events.send('done', orderStatusBody(run, options.quality));
      } catch (error) {
        if (clientGone.signal.aborted) {
          // The client left: the run was cancelled on purpose; nothing to answer, nothing wrong.
          request.log.info({ conversationId: prepared.conversationId }, 'stream client disconnected; run cancelled');
          // @fastify/otel ends the HTTP span when a response finishes; this one never will.
          const span = request.opentelemetry?.().span;
          if (span?.isRecording()) {
            span.setAttributes({ 'http.response.status_code': 200, 'app.http.client_disconnected': true });
            span.end();
          }
          return;
        }
        // Before the first byte: the central error handler answers with the usual status and body.
        if (!events.started) throw error;
        const failure = describeFailure(error);
        logFailure(request.log, error, failure.level);
        await events.send('error', failure.body);
      } finally {
        finished = true;
        events.close();
        // Draining: the stream is done, do not keep its connection for another request.
        if (app.isDraining) closeAfterResponse(reply);
      }
    },
  );
};
