import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import type { Span, Tracer } from '@opentelemetry/api';
import { inSpan } from '../telemetry/spans.js';
import { runScope, type RunScope } from './agent-deps.js';
import type { AgentStateType, AgentStateUpdate } from './state.js';

export type NodeBody = (
  state: AgentStateType,
  span: Span,
  scope: RunScope,
  config?: LangGraphRunnableConfig,
) => Promise<AgentStateUpdate> | AgentStateUpdate;

/**
 * Wraps a node in its `workflow.node <name>` span: iteration = nodes executed
 * before this one (from 0), budget checked before running, and the names (never
 * values) of the fields it updated.
 */
export function tracedNode(tracer: Tracer, name: string, body: NodeBody) {
  const spanName = `workflow.node ${name}`;
  return (state: AgentStateType, config?: LangGraphRunnableConfig): Promise<AgentStateUpdate> => {
    const scope = runScope(config);
    const iteration = state.iterations;
    return inSpan(tracer, spanName, { attributes: { 'app.workflow.node.name': name, 'app.workflow.iteration': iteration } }, async (span) => {
      scope.budget.beforeIteration();
      const update = { ...(await body(state, span, scope, config)), iterations: iteration + 1 };
      span.setAttribute('app.workflow.updated_fields', Object.keys(update).sort());
      return update;
    });
  };
}
