import { context } from '@opentelemetry/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { OrderStatusAgent } from '../../agent/order-status-agent.js';
import type { QualitySignals } from '../../quality/quality-signals.js';
import { assignPromptLabel, type ExperimentArm } from '../../prompts/label-assignment.js';
import { newConversationId, stampTraceContext, type TraceContext } from '../../telemetry/trace-context.js';
import { errorBody } from '../error-handler.js';
import { orderStatusBody } from '../order-status-body.js';
import { errorBody as errorBodySchema, orderStatusRequest, orderStatusResponse } from '../schemas.js';

export interface OrderStatusRouteOptions {
  agent: OrderStatusAgent;
  quality: QualitySignals;
  experiment: readonly ExperimentArm[];
  overridableLabels: readonly string[];
  agentVersion: string;
  environment: string;
}

/** `POST /order-status`: one agent run per request, inside the HTTP request's trace. */
export const orderStatusRoutes: FastifyPluginAsyncZod<OrderStatusRouteOptions> = async (app, options) => {
  const { agent, quality, experiment, overridableLabels } = options;

  app.post(
    '/order-status',
    {
      schema: {
        tags: ['agent'],
        summary: 'Answer an order-status question (or escalate to a person)',
        body: orderStatusRequest,
        response: { 200: orderStatusResponse, 400: errorBodySchema, 401: errorBodySchema, 500: errorBodySchema, 502: errorBodySchema, 503: errorBodySchema, 504: errorBodySchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.prompt_label !== undefined && !overridableLabels.includes(body.prompt_label)) {
        return reply.code(400).send(errorBody('invalid_request', 'prompt_label: this label cannot be chosen by clients', { field: 'prompt_label' }));
      }
      const conversationId = body.conversation_id ?? newConversationId();
      const promptLabel = body.prompt_label ?? assignPromptLabel(body.user_id, experiment);
      const traceContext: TraceContext = {
        sessionId: conversationId,
        userId: body.user_id,
        traceName: 'order-status-turn',
        version: options.agentVersion,
        tags: ['order-status', 'http', promptLabel],
        metadata: { environment: options.environment, workflow: 'order-status', region: body.region },
      };
      // The HTTP span started before the user was known: stamp it, then run inside its context.
      const otel = request.opentelemetry?.();
      if (otel?.span) stampTraceContext(otel.span, traceContext);
      const runAgent = () =>
        agent.run(
          {
            query: body.query,
            conversation_id: conversationId,
            user_id: body.user_id,
            order_reference: body.order_reference,
            region: body.region,
            prompt_label: promptLabel,
          },
          { traceContext },
        );
      const run = await (otel?.context ? context.with(otel.context, runAgent) : runAgent());
      return orderStatusBody(run, quality);
    },
  );
};
