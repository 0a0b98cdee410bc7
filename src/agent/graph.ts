import { END, START, StateGraph } from '@langchain/langgraph';
import type { AgentDeps } from './agent-deps.js';
import { classifyOutcome, routeOutcome } from './nodes/classify-outcome.js';
import { composeAnswer } from './nodes/compose-answer.js';
import { escalate } from './nodes/escalate.js';
import { fetchOrder } from './nodes/fetch-order.js';
import { readMemory } from './nodes/read-memory.js';
import { retrievePolicy } from './nodes/retrieve-policy.js';
import { AgentState } from './state.js';
import { tracedNode } from './traced-node.js';

/**
 * START → retrieve_policy → read_memory → fetch_order → classify_outcome →
 * (compose_answer | escalate) → END. Build once per process: compiling is
 * expensive, and the compiled graph is safe to share between requests.
 */
export function buildOrderStatusGraph(deps: AgentDeps) {
  const node = (name: string, body: Parameters<typeof tracedNode>[2]) => tracedNode(deps.tracer, name, body);
  return new StateGraph(AgentState)
    .addNode('retrieve_policy', node('retrieve_policy', retrievePolicy(deps)))
    .addNode('read_memory', node('read_memory', readMemory(deps)))
    .addNode('fetch_order', node('fetch_order', fetchOrder(deps)))
    .addNode('classify_outcome', node('classify_outcome', classifyOutcome()))
    .addNode('compose_answer', node('compose_answer', composeAnswer(deps)))
    .addNode('escalate', node('escalate', escalate()))
    .addEdge(START, 'retrieve_policy')
    .addEdge('retrieve_policy', 'read_memory')
    .addEdge('read_memory', 'fetch_order')
    .addEdge('fetch_order', 'classify_outcome')
    .addConditionalEdges('classify_outcome', routeOutcome(deps.tracer), { answer: 'compose_answer', escalate: 'escalate' })
    .addEdge('compose_answer', END)
    .addEdge('escalate', END)
    .compile({ name: 'order-status' });
}

export type OrderStatusGraph = ReturnType<typeof buildOrderStatusGraph>;
