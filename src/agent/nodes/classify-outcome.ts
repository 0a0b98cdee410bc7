import type { Tracer } from '@opentelemetry/api';
import type { NodeBody } from '../traced-node.js';
import type { AgentStateType, Route } from '../state.js';

const UNANSWERABLE = new Set(['missing', 'unknown', '']);

/** Escalate when the order state is missing/unknown (which includes a denied read). */
export const classifyOutcome = (): NodeBody => (state) => ({
  outcome: UNANSWERABLE.has(state.order_state) ? 'escalate' : 'answer',
});

/** The conditional edge, as its own `workflow.route outcome` span with a bounded value. */
export const routeOutcome =
  (tracer: Tracer) =>
  (state: AgentStateType): Route => {
    const route: Route = state.outcome === 'answer' ? 'answer' : 'escalate';
    tracer.startSpan('workflow.route outcome', { attributes: { 'app.workflow.route': route } }).end();
    return route;
  };
