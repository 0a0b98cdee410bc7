/**
 * Baseline (b): a bare compiled LangGraph graph with the SAME steps, state channels and routing as
 * the service (retrieve_policy → read_memory → fetch_order → classify_outcome →
 * compose_answer | escalate), invoked directly from a Fastify route.
 *
 * Decisions (see bench/README.md):
 *  - The nodes do the equivalent trivial work inline (a map lookup, two policy ids, one memory
 *    type), and compose_answer calls the model through the SAME client the service uses: a
 *    ChatOpenAI (Responses API, store=false, no retries) against the same OpenAI stand-in. So the
 *    5 s-model concurrency comparison exercises the same outbound HTTP path and the 0 ms
 *    comparison includes the same model-client cost.
 *  - The same framework setup as the service: its graph layout (GRAPH_LAYOUT), its LangChain run
 *    context and its HTTP client under ChatOpenAI (OPENAI_HTTP_CLIENT). The ratio then measures
 *    what our own code adds, not how we use the framework. BARE_STOCK=1 (the `--compare stock`
 *    variant) is the straightforward build instead: one node per step, the global fetch and
 *    LangChain's default RunTree per step.
 *  - NOT included, on purpose: OpenTelemetry (no SDK loaded at all), the prompt resolver/Langfuse
 *    client, zod request/response validation, helmet/rate-limit/in-flight hooks, retries/budgets.
 *    The prompt is a constant template filled with String.replace.
 *  - Imports from src/ only the state schema, the step grouping (stepSequence) and those framework
 *    settings, so the channel cost and the setup are the same by construction.
 *
 *   HOST=127.0.0.1 PORT=3401 OPENAI_BASE_URL=http://127.0.0.1:3200/v1 OPENAI_API_KEY=k \
 *     node --import tsx bench/bare-langgraph-server.ts
 * prints `listening http://127.0.0.1:3401`.
 */
import { randomBytes } from 'node:crypto';
import { END, START, StateGraph } from '@langchain/langgraph';
import { ChatOpenAI } from '@langchain/openai';
import Fastify from 'fastify';
import { serveBaseline } from './lib/serve.js';
import { stepSequence } from '../src/agent/graph.js';
import { GROUPED_CONTEXT_NODE } from '../src/agent/graph-layout.js';
import { useLightweightRunContext } from '../src/agent/langchain-run-context.js';
import { AgentState } from '../src/agent/state.js';
import { createNodeHttpFetch } from '../src/model/node-http-fetch.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 3401);
const api = process.env.OPENAI_API ?? 'responses';
const stock = process.env.BARE_STOCK === '1';
if (!stock) useLightweightRunContext();
const nodeHttpFetch = !stock && (process.env.OPENAI_HTTP_CLIENT ?? 'node-http') === 'node-http' ? createNodeHttpFetch() : undefined;

// The service's own state schema (same channels, same defaults): the baseline must pay the same
// per-channel LangGraph cost, and a copy drifted once already.
const State = AgentState;
type S = typeof State.State;

const ORDERS = new Map<string, { state: string; owner?: string }>([
  ['ORDER-924', { state: 'processing' }],
  ['ORDER-7001', { state: 'in_transit', owner: 'usr_owner_7001' }],
]);

const SYSTEM =
  'You are a support assistant. Answer using only authorized order and policy context.\nIf the order state is missing or policy evidence is insufficient, escalate.';
const USER =
  'Question: {{query}}\nRegion: {{region}}\nOrder state: {{order_state}}\nPolicy document IDs: {{policy_document_ids}}\nMemory categories: {{memory_record_types}}';

const model = new ChatOpenAI({
  model: process.env.OPENAI_MODEL ?? 'gpt-4o-mini',
  apiKey: process.env.OPENAI_API_KEY ?? 'sk-bench',
  temperature: 0.2,
  maxTokens: 300,
  timeout: 30_000,
  maxRetries: 0,
  useResponsesApi: api === 'responses',
  zdrEnabled: api === 'responses',
  configuration: { baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0, ...(nodeHttpFetch ? { fetch: nodeHttpFetch } : {}) },
});

const step = (s: S) => ({ iterations: (s.iterations ?? 0) + 1 });

const retrievePolicy = (s: S) => ({ ...step(s), policy_document_ids: [`policy-${s.region}-shipping-v14`, `policy-${s.region}-escalation-v3`] });
const readMemory = (s: S) => ({ ...step(s), memory_record_types: ['support_preference'] });
const fetchOrder = (s: S) => {
  const order = s.order_reference.endsWith('404') ? undefined : ORDERS.get(s.order_reference);
  if (!order) return { ...step(s), order_state: 'missing', escalation_reason: 'missing_order_state' };
  if (order.owner !== undefined && order.owner !== s.user_id) return { ...step(s), order_state: 'unknown', escalation_reason: 'order_access_denied' };
  return { ...step(s), order_state: order.state };
};
const classifyOutcome = (s: S) => ({ ...step(s), outcome: ['missing', 'unknown', ''].includes(s.order_state ?? '') ? 'escalate' : 'answer' });
const composeAnswer = async (s: S) => {
    const vars: Record<string, string> = {
      query: s.query,
      region: s.region,
      order_state: s.order_state,
      policy_document_ids: (s.policy_document_ids ?? []).join(', '),
      memory_record_types: (s.memory_record_types ?? []).join(', '),
    };
    const user = USER.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => vars[name] ?? '');
    const message = await model.invoke([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: user },
    ]);
    return {
      ...step(s),
      answer: message.text,
      capture_mode: 'metadata_only',
      capture_policy_version: 'capture-policy-1',
      prompt_name: 'order-status-answer',
      prompt_version: 1,
      prompt_label: 'production',
      prompt_source: 'langfuse',
    };
};
const escalate = (s: S) => ({ ...step(s), outcome: 'escalated', answer: 'I could not confirm the status of this order.' });
const route = (s: S) => (s.outcome === 'answer' ? 'answer' : 'escalate');

/** GRAPH_LAYOUT=per-step: one graph node per step, five executed per answered request. */
function perStepGraph() {
  return new StateGraph(State)
    .addNode('retrieve_policy', retrievePolicy)
    .addNode('read_memory', readMemory)
    .addNode('fetch_order', fetchOrder)
    .addNode('classify_outcome', classifyOutcome)
    .addNode('compose_answer', composeAnswer)
    .addNode('escalate', escalate)
    .addEdge(START, 'retrieve_policy')
    .addEdge('retrieve_policy', 'read_memory')
    .addEdge('read_memory', 'fetch_order')
    .addEdge('fetch_order', 'classify_outcome')
    .addConditionalEdges('classify_outcome', route, { answer: 'compose_answer', escalate: 'escalate' })
    .addEdge('compose_answer', END)
    .addEdge('escalate', END)
    .compile({ name: 'order-status' });
}

/**
 * The default, like the service's default `grouped` layout (src/agent/graph-layout.ts): the same
 * steps and routing, but the four context steps run inside ONE graph node, so two nodes execute
 * per request.
 */
function groupedGraph() {
  return new StateGraph(State)
    .addNode(
      GROUPED_CONTEXT_NODE,
      stepSequence([
        ['retrieve_policy', retrievePolicy],
        ['read_memory', readMemory],
        ['fetch_order', fetchOrder],
        ['classify_outcome', classifyOutcome],
      ]),
    )
    .addNode('compose_answer', composeAnswer)
    .addNode('escalate', escalate)
    .addEdge(START, GROUPED_CONTEXT_NODE)
    .addConditionalEdges(GROUPED_CONTEXT_NODE, route, { answer: 'compose_answer', escalate: 'escalate' })
    .addEdge('compose_answer', END)
    .addEdge('escalate', END)
    .compile({ name: 'order-status' });
}

// Same variable and values as the service, so a variant sets both alike.
const graph = stock || process.env.GRAPH_LAYOUT === 'per-step' ? perStepGraph() : groupedGraph();

interface Body {
  query: string;
  order_reference: string;
  region: string;
  user_id: string;
  conversation_id?: string;
}

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/order-status', async (request) => {
  const body = request.body as Body;
  const conversationId = body.conversation_id ?? `conv_${randomBytes(16).toString('hex')}`;
  const state = await graph.invoke(
    {
      query: body.query,
      conversation_id: conversationId,
      user_id: body.user_id,
      order_reference: body.order_reference,
      region: body.region,
      prompt_label: 'production',
      iterations: 0,
    },
    { recursionLimit: 10 },
  );
  return {
    outcome: state.outcome,
    answer: state.answer,
    conversation_id: conversationId,
    ...(state.prompt_name
      ? { prompt: { name: state.prompt_name, version: state.prompt_version, label: state.prompt_label, source: state.prompt_source } }
      : {}),
  };
});

await serveBaseline(app, host, port);
