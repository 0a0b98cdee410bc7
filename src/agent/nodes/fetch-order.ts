import { SpanStatusCode } from '@opentelemetry/api';
import { InvalidToolArgumentsError } from '../../domain/orders.js';
import { inSpan } from '../../telemetry/spans.js';
import type { AgentDeps } from '../agent-deps.js';
import type { NodeBody } from '../traced-node.js';

/**
 * The order-status tool. A denied read leaves the state `unknown`: the real
 * state never reaches the model, the response, a span or a streamed update.
 * The order reference and the user id never appear in tool attributes.
 * `order_lookup` says why a state is missing; `escalate` turns it into a reason.
 */
export const fetchOrder =
  ({ tracer, orders }: AgentDeps): NodeBody =>
  (state) =>
    inSpan(
      tracer,
      `execute_tool ${orders.name}`,
      {
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': orders.name,
          'gen_ai.tool.type': 'function',
          'app.tool.side_effect': 'read',
          'app.tool.approval': 'not_required',
        },
      },
      (span) => {
        let lookup;
        try {
          lookup = orders.lookup({ orderReference: state.order_reference, userId: state.user_id });
        } catch (error) {
          if (!(error instanceof InvalidToolArgumentsError)) throw error;
          span.setAttributes({ 'app.tool.arguments.valid': false, 'app.order.state': 'unknown', 'error.type': 'validation' });
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'validation' });
          return { order_state: 'unknown', order_lookup: 'invalid_arguments' };
        }
        span.setAttribute('app.tool.arguments.valid', true);
        if (lookup.status === 'denied') {
          span.setAttributes({ 'app.tool.authorization': 'denied', 'app.order.state': 'unknown', 'error.type': 'authorization' });
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'authorization' });
          return { order_state: 'unknown', order_lookup: 'denied' };
        }
        span.setAttribute('app.tool.authorization', 'allowed');
        if (lookup.status === 'missing') {
          span.setAttributes({ 'app.tool.execution': 'success', 'app.order.state': 'missing' });
          return { order_state: 'missing', order_lookup: 'missing' };
        }
        span.setAttributes({
          'app.tool.execution': 'success',
          'app.order.state': lookup.order.state,
          'app.order.delayed': lookup.order.delayed ?? false,
        });
        return { order_state: lookup.order.state, order_lookup: 'found' };
      },
    );
