import { context, type Context } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { OrderStatusAgent } from '../../agent/order-status-agent.js';
import type { AgentInput } from '../../agent/state.js';
import { assignPromptLabel, type ExperimentArm } from '../../prompts/label-assignment.js';
import type { QualitySignals } from '../../quality/quality-signals.js';
import { newConversationId, stampTraceContext, type TraceContext } from '../../telemetry/trace-context.js';
import { errorBody, type ErrorBody } from '../error-handler.js';
import { orderStatusBody } from '../order-status-body.js';
import { errorBody as errorBodySchema, orderStatusRequest, orderStatusResponse, type OrderStatusRequest } from '../schemas.js';

export interface OrderStatusRouteOptions {
  agent: OrderStatusAgent;
  quality: QualitySignals;
  experiment: readonly ExperimentArm[];
  overridableLabels: readonly string[];
  agentVersion: string;
  environment: string;
  /** `/order-status/stream` only: how long later tokens may wait to share a socket write (src/http/sse.ts). */
  streamTokenCoalesceMs: number;
}

/** Everything a run needs from an accepted request, shared by `/order-status` and its streaming twin. */
export interface PreparedRun {
  input: AgentInput;
  conversationId: string;
  traceContext: TraceContext;
  /** Runs `fn` inside the HTTP request's span context (so the run is its child). */
  inRequestContext<T>(fn: () => T): T;
}

/**
 * Turns a validated body into a run: refuses a client-chosen label that is not overridable,
 * assigns the A/B label server-side, names the Langfuse session, and stamps the HTTP span
 * (which started before the user was known) with the trace context.
 */
export function prepareRun(
  request: FastifyRequest,
  body: OrderStatusRequest,
  options: OrderStatusRouteOptions,
  extraTags: readonly string[] = [],
): PreparedRun | ErrorBody {
  if (body.prompt_label !== undefined && !options.overridableLabels.includes(body.prompt_label)) {
    return errorBody('invalid_request', 'prompt_label: this label cannot be chosen by clients', { field: 'prompt_label' });
  }
  const conversationId = body.conversation_id ?? newConversationId();
  const promptLabel = body.prompt_label ?? assignPromptLabel(body.user_id, options.experiment);
  const traceContext: TraceContext = {
    sessionId: conversationId,
    userId: body.user_id,
    traceName: 'order-status-turn',
    version: options.agentVersion,
    tags: ['order-status', 'http', ...extraTags, promptLabel],
    metadata: { environment: options.environment, workflow: 'order-status', region: body.region },
  };
  const otel = request.opentelemetry?.();
  if (otel?.span) stampTraceContext(otel.span, traceContext);
  const requestContext: Context | undefined = otel?.context ?? undefined;
  return {
    input: {
      query: body.query,
      conversation_id: conversationId,
      user_id: body.user_id,
      order_reference: body.order_reference,
      region: body.region,
      prompt_label: promptLabel,
    },
    conversationId,
    traceContext,
    inRequestContext: (fn) => (requestContext ? context.with(requestContext, fn) : fn()),
  };
}

/** `POST /order-status`: one agent run per request, inside the HTTP request's trace. */
export const orderStatusRoutes: FastifyPluginAsyncZod<OrderStatusRouteOptions> = async (app, options) => {
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
      const prepared = prepareRun(request, request.body, options);
      if ('error' in prepared) return reply.code(400).send(prepared);
      const run = await prepared.inRequestContext(() => options.agent.run(prepared.input, { traceContext: prepared.traceContext }));
      return orderStatusBody(run, options.quality);
    },
  );
};
