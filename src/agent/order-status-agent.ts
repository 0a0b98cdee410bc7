import { isSpanContextValid, type Span } from '@opentelemetry/api';
import { RunCancelledError } from '../errors.js';
import { recordError } from '../telemetry/spans.js';
import { withTraceContext, type TraceContext } from '../telemetry/trace-context.js';
import type { AgentDeps, RunScope } from './agent-deps.js';
import { BudgetExhausted, ExecutionBudget } from './budget.js';
import { buildOrderStatusGraph, type OrderStatusGraph } from './graph.js';
import { GROUPED_CONTEXT_NODE } from './graph-layout.js';
import { ESCALATION_ANSWER } from './nodes/escalate.js';
import type { AgentInput, AgentStateType, AgentStateUpdate } from './state.js';
import { sanitizeUpdate, type AgentStreamEvent, type StreamChunk } from './stream-updates.js';
import { TokenFlow } from './token-flow.js';

export interface RunOptions {
  /** Session, user, trace name, tags and metadata for every span of the run. */
  traceContext?: TraceContext;
  /** Fetch the prompt during this run, falling back to the cache on failure (CLI scenarios). */
  mustFetchPrompt?: boolean;
}

export interface StreamOptions extends RunOptions {
  /** Abort when the caller goes away: the graph stops and the model request is cancelled. */
  signal?: AbortSignal;
}

export interface AgentRun {
  state: AgentStateType;
  /** W3C trace id of the run; undefined when tracing is disabled. */
  traceId: string | undefined;
  /** The `invoke_agent` span's id; undefined when tracing is disabled. */
  spanId?: string;
}

/** Receives a streaming run's events in order; awaited, so a slow caller slows the run down. */
export type StreamListener = (event: AgentStreamEvent) => Promise<void> | void;

/** Answer tokens a streaming run may have handed over and not yet seen written (token-flow.ts). */
const TOKEN_WINDOW = 16;

/** The order-status agent: the compiled graph (built once) inside its `invoke_agent` root span. */
export class OrderStatusAgent {
  readonly graph: OrderStatusGraph;

  constructor(private readonly deps: AgentDeps) {
    this.graph = buildOrderStatusGraph(deps, deps.graphLayout);
  }

  /** One run to completion. */
  run(input: AgentInput, options: RunOptions = {}): Promise<AgentRun> {
    return this.execute(input, options, (budget) =>
      this.graph.invoke(
        { ...input, iterations: 0 },
        { configurable: { run: { budget, mustFetchPrompt: options.mustFetchPrompt ?? false } satisfies RunScope }, recursionLimit: this.recursionLimit },
      ),
    );
  }

  /**
   * One run, streamed (book ch 26): `started` (with the trace id), then each graph step's update
   * through the sanitizer (stream-updates.ts), the answer's tokens as the model streams them,
   * and finally the same result as run(). Inside a `workflow.stream updates` span that parents the
   * node spans. Rejects with RunCancelledError when `signal` aborts.
   */
  stream(input: AgentInput, options: StreamOptions, listener: StreamListener): Promise<AgentRun> {
    const signal = options.signal ?? new AbortController().signal;
    return this.execute(
      input,
      options,
      (budget, root) =>
        this.deps.tracer.startActiveSpan('workflow.stream updates', { attributes: { 'app.workflow.stream.mode': 'updates' } }, (span) =>
          this.streamGraph(span, input, { budget, mustFetchPrompt: options.mustFetchPrompt ?? false }, signal, listener, traceIdOf(root)),
        ),
      signal,
    );
  }

  private get recursionLimit(): number {
    return this.deps.budget.maxIterations + 2;
  }

  private async streamGraph(
    span: Span,
    input: AgentInput,
    scope: Omit<RunScope, 'stream'>,
    signal: AbortSignal,
    listener: StreamListener,
    traceId: string | undefined,
  ): Promise<AgentStateType> {
    const tokens = new TokenFlow(TOKEN_WINDOW, signal);
    let updates = 0;
    let completed = false;
    const emitUpdate = async (step: string, update: AgentStateUpdate) => {
      const safe = sanitizeUpdate(step, update);
      if (!safe) return;
      updates += 1;
      await listener({ type: 'update', update: safe });
    };
    try {
      await listener({ type: 'started', traceId });
      const chunks = await this.graph.stream(
        { ...input, iterations: 0 },
        {
          configurable: { run: { ...scope, stream: { signal, tokens } } satisfies RunScope },
          recursionLimit: this.recursionLimit,
          // `updates` for the steps that are LangGraph nodes, `custom` for the steps grouped in one
          // node and for the answer's tokens, `values` for the final state (never sent as is).
          streamMode: ['updates', 'custom', 'values'],
          signal,
        },
      );
      let state: AgentStateType | undefined;
      for await (const [mode, payload] of chunks as AsyncIterable<[string, unknown]>) {
        if (mode === 'values') {
          state = payload as AgentStateType;
        } else if (mode === 'custom') {
          const chunk = payload as StreamChunk;
          if (chunk.kind === 'token') {
            await listener({ type: 'token', text: chunk.text });
            tokens.delivered();
          } else {
            await emitUpdate(chunk.step, chunk.update);
          }
        } else {
          for (const [node, update] of Object.entries(payload as Record<string, AgentStateUpdate>)) {
            // The grouped node's steps were streamed one by one as they ran.
            if (node !== GROUPED_CONTEXT_NODE && update) await emitUpdate(node, update);
          }
        }
      }
      if (!state) throw new Error('the graph stream ended without a state');
      completed = true;
      return state;
    } catch (error) {
      if (!signal.aborted && !(error instanceof BudgetExhausted)) recordError(span, error);
      throw error;
    } finally {
      tokens.close();
      span.setAttributes({ 'app.workflow.stream.event_count': updates, 'app.workflow.stream.completed': completed });
      span.end();
    }
  }

  /** The `invoke_agent` root span around a run, and the bounded outcomes: budget stop, cancellation. */
  private execute(
    input: AgentInput,
    options: RunOptions,
    body: (budget: ExecutionBudget, root: Span) => Promise<AgentStateType>,
    signal?: AbortSignal,
  ): Promise<AgentRun> {
    const run = () =>
      this.deps.tracer.startActiveSpan(
        'invoke_agent order-status',
        {
          attributes: {
            'gen_ai.operation.name': 'invoke_agent',
            'gen_ai.agent.name': 'order-support',
            'gen_ai.agent.version': this.deps.agentVersion,
            'gen_ai.conversation.id': input.conversation_id,
            'app.task.type': 'order-status',
          },
        },
        async (span): Promise<AgentRun> => {
          const traced = isSpanContextValid(span.spanContext());
          const traceId = traced ? span.spanContext().traceId : undefined;
          const spanId = traced ? span.spanContext().spanId : undefined;
          const budget = new ExecutionBudget(this.deps.budget);
          try {
            const state = await body(budget, span);
            span.setAttributes({ 'app.task.outcome': state.outcome, 'app.workflow.iterations': state.iterations });
            this.deps.metrics.recordAgentRun(state.outcome);
            return { state, traceId, spanId };
          } catch (error) {
            if (signal?.aborted) {
              // The caller left: a bounded outcome, not a failure of the service.
              span.setAttribute('app.task.outcome', 'cancelled');
              this.deps.metrics.recordAgentRun('cancelled');
              throw error instanceof RunCancelledError ? error : new RunCancelledError();
            }
            if (error instanceof BudgetExhausted) {
              // A budget stop is a bounded, completed outcome, not a crash (book ch 17).
              span.setAttributes({
                'app.task.outcome': 'budget_stopped',
                'app.budget.type': error.budgetType,
                'app.budget.limit': error.limit,
                'app.budget.action': 'stop',
              });
              this.deps.metrics.recordAgentRun('budget_stopped');
              const state = { ...input, outcome: 'budget_stopped', answer: ESCALATION_ANSWER } as AgentStateType;
              return { state, traceId, spanId };
            }
            span.setAttribute('app.task.outcome', 'error');
            this.deps.metrics.recordAgentRun('error');
            recordError(span, error);
            throw error;
          } finally {
            span.end();
          }
        },
      );
    return options.traceContext ? withTraceContext(options.traceContext, run) : run();
  }
}

function traceIdOf(span: Span): string | undefined {
  return isSpanContextValid(span.spanContext()) ? span.spanContext().traceId : undefined;
}
