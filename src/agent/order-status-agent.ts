import { isSpanContextValid, type Span } from '@opentelemetry/api';
import { recordError } from '../telemetry/spans.js';
import { withTraceContext, type TraceContext } from '../telemetry/trace-context.js';
import type { AgentDeps } from './agent-deps.js';
import { BudgetExhausted, ExecutionBudget } from './budget.js';
import { buildOrderStatusGraph, type OrderStatusGraph } from './graph.js';
import { ESCALATION_ANSWER } from './nodes/escalate.js';
import type { AgentInput, AgentStateType } from './state.js';

export interface RunOptions {
  /** Session, user, trace name, tags and metadata for every span of the run. */
  traceContext?: TraceContext;
  /** Fetch the prompt during this run, falling back to the cache on failure (CLI scenarios). */
  mustFetchPrompt?: boolean;
}

export interface AgentRun {
  state: AgentStateType;
  /** W3C trace id of the run; undefined when tracing is disabled. */
  traceId: string | undefined;
  /** The `invoke_agent` span's id; undefined when tracing is disabled. */
  spanId?: string;
}

/** The order-status agent: the compiled graph (built once) inside its `invoke_agent` root span. */
export class OrderStatusAgent {
  readonly graph: OrderStatusGraph;

  constructor(private readonly deps: AgentDeps) {
    this.graph = buildOrderStatusGraph(deps, deps.graphLayout);
  }

  run(input: AgentInput, options: RunOptions = {}): Promise<AgentRun> {
    const execute = () =>
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
        (span) => this.invokeGraph(span, input, options.mustFetchPrompt ?? false),
      );
    return options.traceContext ? withTraceContext(options.traceContext, execute) : execute();
  }

  private async invokeGraph(span: Span, input: AgentInput, mustFetchPrompt: boolean): Promise<AgentRun> {
    const traced = isSpanContextValid(span.spanContext());
    const traceId = traced ? span.spanContext().traceId : undefined;
    const spanId = traced ? span.spanContext().spanId : undefined;
    const budget = new ExecutionBudget(this.deps.budget);
    try {
      const state = await this.graph.invoke(
        { ...input, iterations: 0 },
        { configurable: { run: { budget, mustFetchPrompt } }, recursionLimit: this.deps.budget.maxIterations + 2 },
      );
      span.setAttributes({ 'app.task.outcome': state.outcome, 'app.workflow.iterations': state.iterations });
      this.deps.metrics.recordAgentRun(state.outcome);
      return { state, traceId, spanId };
    } catch (error) {
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
  }
}
