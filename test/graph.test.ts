import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExecutionBudget } from '../src/agent/budget.js';
import { GRAPH_LAYOUTS, GROUPED_CONTEXT_NODE, type GraphLayout } from '../src/agent/graph-layout.js';
import { OfflineAnswerModel } from '../src/model/offline-model.js';
import { createRuntime } from '../src/runtime.js';
import type { AnswerModel } from '../src/model/answer-model.js';
import { AgentState } from '../src/agent/state.js';
import { silentLogger, testSettings } from './support/build.js';
import { recordingModel } from './support/models.js';
import { parentId, spanNamed, testTracing } from './support/telemetry.js';

const tracing = testTracing();
beforeEach(() => tracing.reset());

/** A fresh runtime (fresh compiled graph) per test, as the LangGraph testing guide advises. */
function freshRuntime(model: AnswerModel = new OfflineAnswerModel(), layout: GraphLayout = 'grouped') {
  return createRuntime(testSettings({ GRAPH_LAYOUT: layout }), silentLogger, tracing.tracer, { model });
}

const runScope = () => ({ configurable: { run: { budget: new ExecutionBudget({ maxIterations: 8, maxModelCalls: 2 }), mustFetchPrompt: false } } });

const input = (overrides: Record<string, string> = {}) => ({
  query: 'Where is my order?',
  conversation_id: 'conv_test_001',
  user_id: 'usr_test_001',
  order_reference: 'ORDER-924',
  region: 'eu',
  ...overrides,
});

const EXPECTED_SHAPE = [
  ['invoke_agent order-status', undefined],
  ['workflow.node retrieve_policy', 'invoke_agent order-status'],
  ['retrieval support-policy', 'workflow.node retrieve_policy'],
  ['workflow.node read_memory', 'invoke_agent order-status'],
  ['memory.read customer-profile', 'workflow.node read_memory'],
  ['workflow.node fetch_order', 'invoke_agent order-status'],
  ['execute_tool fetch_order_status', 'workflow.node fetch_order'],
  ['workflow.node classify_outcome', 'invoke_agent order-status'],
  ['workflow.route outcome', 'invoke_agent order-status'],
  ['workflow.node compose_answer', 'invoke_agent order-status'],
  ['openai.responses.create', 'workflow.node compose_answer'],
] as const;

function assertShape(spans: ReadableSpan[], shape: readonly (readonly [string, string | undefined])[]) {
  const root = spanNamed(spans, 'invoke_agent order-status');
  expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));
  for (const [name, parent] of shape) {
    const span = spanNamed(spans, name);
    if (parent === undefined) expect(parentId(span)).toBeUndefined();
    else expect(parentId(span), `${name} should be a child of ${parent}`).toBe(spanNamed(spans, parent).spanContext().spanId);
  }
}

describe.each(GRAPH_LAYOUTS)('order-status graph, %s layout', (layout) => {
  it('answers a readable order with the SPEC trace shape in one trace', async () => {
    const runtime = freshRuntime(undefined, layout);
    await runtime.prompts.warm(['production']);
    const { state, traceId } = await runtime.agent.run(input());

    expect(state.outcome).toBe('answer');
    expect(state.answer).toContain('processing');
    expect(state).toMatchObject({ prompt_name: 'order-status-answer', prompt_version: 1, prompt_label: 'production', prompt_source: 'local' });
    const spans = tracing.spans();
    expect(spans).toHaveLength(EXPECTED_SHAPE.length);
    assertShape(spans, EXPECTED_SHAPE);
    expect(traceId).toBe(spanNamed(spans, 'invoke_agent order-status').spanContext().traceId);
    expect(spanNamed(spans, 'invoke_agent order-status').attributes['app.task.outcome']).toBe('answer');
  });

  it('counts iterations from 0 and lists updated field names, never values', async () => {
    const runtime = freshRuntime(undefined, layout);
    await runtime.agent.run(input());
    const spans = tracing.spans();
    const order = ['retrieve_policy', 'read_memory', 'fetch_order', 'classify_outcome', 'compose_answer'];
    order.forEach((node, i) => {
      const span = spanNamed(spans, `workflow.node ${node}`);
      expect(span.attributes['app.workflow.node.name']).toBe(node);
      expect(span.attributes['app.workflow.iteration']).toBe(i);
    });
    expect(spanNamed(spans, 'workflow.node fetch_order').attributes['app.workflow.updated_fields']).toEqual(['iterations', 'order_lookup', 'order_state']);
    expect(spanNamed(spans, 'workflow.route outcome').attributes['app.workflow.route']).toBe('answer');
    expect(spanNamed(spans, 'invoke_agent order-status').attributes['app.workflow.iterations']).toBe(5);
  });

  it('links no Langfuse prompt in local mode; compose_answer says which local version was used', async () => {
    await freshRuntime().agent.run(input());
    const spans = tracing.spans();
    const model = spanNamed(spans, 'openai.responses.create');
    expect(model.attributes['langfuse.observation.type']).toBe('generation');
    expect(Object.keys(model.attributes).filter((k) => k.startsWith('langfuse.observation.prompt.') || k.includes('prompt_label'))).toEqual([]);
    expect(spanNamed(spans, 'workflow.node compose_answer').attributes).toMatchObject({
      'app.prompt.fetch.source': 'local',
      'app.prompt.version': 1,
      'app.prompt.label': 'production',
    });
  });

  it('records document ids and record types, not content, on retrieval and memory spans', async () => {
    await freshRuntime().agent.run(input());
    const spans = tracing.spans();
    expect(spanNamed(spans, 'retrieval support-policy').attributes['app.retrieval.document_ids']).toEqual([
      'policy-eu-shipping-v14',
      'policy-eu-escalation-v3',
    ]);
    expect(spanNamed(spans, 'retrieval support-policy').attributes['langfuse.observation.type']).toBe('retriever');
    expect(spanNamed(spans, 'memory.read customer-profile').attributes['app.memory.record_types']).toEqual(['support_preference']);
    const tool = spanNamed(spans, 'execute_tool fetch_order_status');
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'fetch_order_status',
      'app.tool.authorization': 'allowed',
      'app.order.state': 'processing',
    });
    const everything = JSON.stringify(spans.map((s) => s.attributes));
    expect(everything).not.toContain('Where is my order?');
    expect(everything).not.toContain('ORDER-924');
  });

  it('escalates a missing order without calling the model', async () => {
    const { calls, model } = recordingModel();
    const { state } = await freshRuntime(model, layout).agent.run(input({ order_reference: 'ORDER-404' }));
    expect(state.outcome).toBe('escalated');
    expect(calls).toHaveLength(0);
    const spans = tracing.spans();
    expect(spans.map((s) => s.name)).toContain('workflow.node escalate');
    expect(spans.map((s) => s.name)).not.toContain('workflow.node compose_answer');
    expect(spanNamed(spans, 'workflow.route outcome').attributes['app.workflow.route']).toBe('escalate');
    expect(spanNamed(spans, 'execute_tool fetch_order_status').attributes['app.order.state']).toBe('missing');
    expect(spanNamed(spans, 'invoke_agent order-status').attributes['app.task.outcome']).toBe('escalated');
  });

  it("denies another user's order: escalated, and its state reaches no span, model or answer", async () => {
    const { calls, model } = recordingModel();
    const { state } = await freshRuntime(model).agent.run(input({ order_reference: 'ORDER-7001', user_id: 'usr_someone_else' }));
    expect(state.outcome).toBe('escalated');
    expect(state.order_state).toBe('unknown');
    expect(calls).toHaveLength(0);
    expect(JSON.stringify(state)).not.toContain('in_transit');
    const spans = tracing.spans();
    const tool = spanNamed(spans, 'execute_tool fetch_order_status');
    expect(tool.attributes['app.tool.authorization']).toBe('denied');
    expect(tool.status.code).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.events]))).not.toContain('in_transit');
  });

  it('lets the owner read their order', async () => {
    const { state } = await freshRuntime().agent.run(input({ order_reference: 'ORDER-7001', user_id: 'usr_owner_7001' }));
    expect(state.outcome).toBe('answer');
    expect(state.answer).toContain('in transit');
  });

  it('stops at the execution budget in the middle of the context steps', async () => {
    const runtime = createRuntime(testSettings({ MAX_AGENT_ITERATIONS: '2', GRAPH_LAYOUT: layout }), silentLogger, tracing.tracer);
    const { state } = await runtime.agent.run(input());
    expect(state.outcome).toBe('budget_stopped');
    // The third step's span records the stop; its tool never runs.
    const spans = tracing.spans();
    expect(spanNamed(spans, 'workflow.node fetch_order').status.code).toBe(SpanStatusCode.ERROR);
    expect(spans.map((s) => s.name)).not.toContain('execute_tool fetch_order_status');
  });
});

describe('graph layouts', () => {
  const executedNodes = async (layout: GraphLayout) => {
    const graph = freshRuntime(undefined, layout).agent.graph;
    const updates = [];
    for await (const update of await graph.stream({ ...input(), iterations: 0 }, { ...runScope(), streamMode: 'updates' })) updates.push(...Object.keys(update));
    return updates;
  };

  it('grouped runs the four context steps in one LangGraph node (2 nodes per run instead of 5)', async () => {
    expect(await executedNodes('grouped')).toEqual([GROUPED_CONTEXT_NODE, 'compose_answer']);
    expect(await executedNodes('per-step')).toEqual(['retrieve_policy', 'read_memory', 'fetch_order', 'classify_outcome', 'compose_answer']);
  });

  it('a step runs alone through the compiled per-step graph', async () => {
    const nodes = freshRuntime(undefined, 'per-step').agent.graph.nodes as Record<string, { invoke: (s: unknown, c: unknown) => Promise<unknown> }>;
    const update = await nodes['fetch_order']!.invoke({ ...input({ order_reference: 'ORDER-404' }), iterations: 3 } as typeof AgentState.State, runScope());
    expect(update).toMatchObject({ order_state: 'missing', iterations: 4 });
  });

  it('the grouped node returns the merged update of its steps', async () => {
    const nodes = freshRuntime().agent.graph.nodes as Record<string, { invoke: (s: unknown, c: unknown) => Promise<unknown> }>;
    const update = await nodes[GROUPED_CONTEXT_NODE]!.invoke({ ...input({ order_reference: 'ORDER-404' }), iterations: 0 } as typeof AgentState.State, runScope());
    expect(update).toMatchObject({
      policy_document_ids: ['policy-eu-shipping-v14', 'policy-eu-escalation-v3'],
      memory_record_types: ['support_preference'],
      order_state: 'missing',
      outcome: 'escalate',
      iterations: 4,
    });
  });
});

describe('execution budget', () => {

  it('stops at the execution budget with a bounded outcome on the root span', async () => {
    const runtime = createRuntime(testSettings({ MAX_AGENT_ITERATIONS: '2' }), silentLogger, tracing.tracer);
    const { state } = await runtime.agent.run(input());
    expect(state.outcome).toBe('budget_stopped');
    const root = spanNamed(tracing.spans(), 'invoke_agent order-status');
    expect(root.attributes).toMatchObject({ 'app.task.outcome': 'budget_stopped', 'app.budget.type': 'iterations', 'app.budget.limit': 2 });
  });

  it('stops before a model call beyond the model-call budget', async () => {
    const { calls, model } = recordingModel();
    const runtime = createRuntime(testSettings(), silentLogger, tracing.tracer, { model, deps: { budget: { maxIterations: 8, maxModelCalls: 0 } } });
    const { state } = await runtime.agent.run(input());
    expect(state.outcome).toBe('budget_stopped');
    expect(calls).toHaveLength(0);
    const root = spanNamed(tracing.spans(), 'invoke_agent order-status');
    expect(root.attributes).toMatchObject({ 'app.budget.type': 'model_calls', 'app.budget.limit': 0, 'app.budget.action': 'stop' });
  });
});
