import { END, START, StateGraph, type LangGraphRunnableConfig } from '@langchain/langgraph';
import type { AgentDeps } from './agent-deps.js';
import { classifyOutcome, routeOutcome } from './nodes/classify-outcome.js';
import { composeAnswer } from './nodes/compose-answer.js';
import { escalate } from './nodes/escalate.js';
import { fetchOrder } from './nodes/fetch-order.js';
import { readMemory } from './nodes/read-memory.js';
import { retrievePolicy } from './nodes/retrieve-policy.js';
import { GROUPED_CONTEXT_NODE, type GraphLayout } from './graph-layout.js';
import { AgentState, type AgentStateType, type AgentStateUpdate } from './state.js';
import type { StreamChunk } from './stream-updates.js';
import { tracedNode } from './traced-node.js';

type StepFn = (state: AgentStateType, config?: LangGraphRunnableConfig) => Promise<AgentStateUpdate> | AgentStateUpdate;
export type NamedStep = readonly [name: string, fn: StepFn];

/**
 * Runs steps one after another inside one LangGraph node. Merging updates with a spread is exact
 * because every state channel is last-value-wins (see state.ts). Each step's own update also goes
 * to LangGraph's `custom` stream (a no-op unless the run streams that mode), so a streaming
 * client sees the same per-step updates as with one node per step.
 */
export function stepSequence(steps: readonly NamedStep[]): (state: AgentStateType, config?: LangGraphRunnableConfig) => Promise<AgentStateUpdate> {
  return async (state, config) => {
    let current = state;
    const merged: AgentStateUpdate = {};
    for (const [name, step] of steps) {
      const update = await step(current, config);
      config?.writer?.({ kind: 'step', step: name, update } satisfies StreamChunk);
      Object.assign(merged, update);
      current = { ...current, ...update } as AgentStateType;
    }
    return merged;
  };
}

/**
 * START → retrieve_policy → read_memory → fetch_order → classify_outcome →
 * (compose_answer | escalate) → END; `layout` maps the steps onto LangGraph nodes
 * (graph-layout.ts). Build once per process: compiling is expensive, and the
 * compiled graph is safe to share between requests.
 */
export function buildOrderStatusGraph(deps: AgentDeps, layout: GraphLayout = 'grouped') {
  const step = (name: string, body: Parameters<typeof tracedNode>[2]) => tracedNode(deps.tracer, name, body);
  const contextSteps = [
    ['retrieve_policy', step('retrieve_policy', retrievePolicy(deps))],
    ['read_memory', step('read_memory', readMemory(deps))],
    ['fetch_order', step('fetch_order', fetchOrder(deps))],
    ['classify_outcome', step('classify_outcome', classifyOutcome())],
  ] as const;
  const graph = new StateGraph(AgentState)
    .addNode('compose_answer', step('compose_answer', composeAnswer(deps)))
    .addNode('escalate', step('escalate', escalate()));
  const branches = { answer: 'compose_answer', escalate: 'escalate' } as const;

  if (layout === 'grouped') {
    graph
      .addNode(GROUPED_CONTEXT_NODE, stepSequence(contextSteps))
      .addEdge(START, GROUPED_CONTEXT_NODE)
      .addConditionalEdges(GROUPED_CONTEXT_NODE, routeOutcome(deps.tracer), branches);
  } else {
    let previous: string = START;
    for (const [name, fn] of contextSteps) {
      graph.addNode(name, fn).addEdge(previous as never, name as never);
      previous = name;
    }
    graph.addConditionalEdges(previous as never, routeOutcome(deps.tracer), branches);
  }
  return graph.addEdge('compose_answer', END).addEdge('escalate', END).compile({ name: 'order-status' });
}

export type OrderStatusGraph = ReturnType<typeof buildOrderStatusGraph>;
