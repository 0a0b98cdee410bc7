import { context } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { QualitySignals } from '../../quality/quality-signals.js';
import { stampTraceContext, type TraceContext } from '../../telemetry/trace-context.js';
import { errorBody, feedbackAccepted, feedbackRequest, signalAccepted, signalRequest } from '../schemas.js';

export interface QualityRouteOptions {
  quality: QualitySignals;
}

const errors = { 400: errorBody, 401: errorBody, 403: errorBody, 415: errorBody, 429: errorBody, 503: errorBody };

/**
 * Runs `record` inside the HTTP span's context (so its span is a child of it) and
 * stamps the HTTP span with the interaction's §5 attributes. A refused id
 * throws before anything is recorded.
 */
function recordInRequest<T extends { traceContext: TraceContext }>(request: FastifyRequest, record: () => T): T {
  const otel = request.opentelemetry?.();
  const receipt = otel?.context ? context.with(otel.context, record) : record();
  if (otel?.span) stampTraceContext(otel.span, receipt.traceContext);
  return receipt;
}

/**
 * `POST /feedback` and `POST /signals` (SPEC §9): 202 once the span is recorded
 * and the score queued; never waits on Langfuse.
 */
export const qualityRoutes: FastifyPluginAsyncZod<QualityRouteOptions> = async (app, { quality }) => {
  app.post(
    '/feedback',
    {
      schema: {
        tags: ['quality'],
        summary: 'Rate an answer (positive | negative); recorded as the `user_feedback` score on its generation',
        description:
          'One vote per answer: a new vote on the same interaction replaces the previous one. 400 `invalid_interaction_id` for an id this service did not mint, malformed or expired; 403 `forbidden` when user_id is not the interaction\'s user.',
        body: feedbackRequest,
        response: { 202: feedbackAccepted, ...errors },
      },
    },
    async (request, reply) => {
      const { interaction_id: interactionId, user_id: userId, value } = request.body;
      const receipt = recordInRequest(request, () => quality.submitFeedback({ interactionId, userId, value }));
      return reply.code(202).send({ status: 'accepted' as const, ...(receipt.scoreId ? { score_id: receipt.scoreId } : {}) });
    },
  );

  app.post(
    '/signals',
    {
      schema: {
        tags: ['quality'],
        summary: 'Report a negative signal about an answer (a triage selector, not a correctness label)',
        description:
          '`conversation_abandoned` and `human_takeover` also record the `session_resolution` score on the conversation (abandoned / escalated). Errors as for /feedback.',
        body: signalRequest,
        response: { 202: signalAccepted, ...errors },
      },
    },
    async (request, reply) => {
      const { interaction_id: interactionId, user_id: userId, signal } = request.body;
      recordInRequest(request, () => quality.submitSignal({ interactionId, userId, signal }));
      return reply.code(202).send({ status: 'accepted' as const });
    },
  );
};
