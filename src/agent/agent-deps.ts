import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { MemoryStore } from '../domain/memory.js';
import type { OrderStatusTool } from '../domain/orders.js';
import type { PolicyRetriever } from '../domain/policies.js';
import type { ModelCallDeps } from '../model/model-call.js';
import type { PromptResolver } from '../prompts/prompt-resolver.js';
import type { CapturePolicy } from '../telemetry/capture-policy.js';
import type { ServiceMetrics } from '../telemetry/metrics.js';
import type { BudgetLimits, ExecutionBudget } from './budget.js';
import type { GraphLayout } from './graph-layout.js';
import type { TokenFlow } from './token-flow.js';

/** Everything the graph needs, injected once when the graph is built. */
export interface AgentDeps {
  tracer: Tracer;
  /** `app.agent.runs` per finished run (the model call and resolver record their own). */
  metrics: ServiceMetrics;
  logger: Logger;
  prompts: PromptResolver;
  modelCall: ModelCallDeps;
  /** Default model; a prompt's config may override it. */
  defaultModel: string;
  orders: OrderStatusTool;
  policies: PolicyRetriever;
  memory: MemoryStore;
  capture: CapturePolicy;
  budget: BudgetLimits;
  graphLayout: GraphLayout;
  agentVersion: string;
}

/** Per-run values, passed through LangGraph's `configurable`. */
export interface RunScope {
  budget: ExecutionBudget;
  /** Fetch the prompt in this run and fall back to the cache on failure (CLI scenarios). */
  mustFetchPrompt: boolean;
  /** Present when the run streams (OrderStatusAgent.stream): the answer is streamed too. */
  stream?: StreamScope;
}

export interface StreamScope {
  /** Aborted when the streaming client goes away: the model request is cancelled. */
  signal: AbortSignal;
  /** Back-pressure for the answer's tokens (token-flow.ts). */
  tokens: TokenFlow;
}

export function runScope(config: { configurable?: Record<string, unknown> } | undefined): RunScope {
  const scope = config?.configurable?.['run'] as RunScope | undefined;
  if (!scope) throw new Error('graph invoked without a run scope: use runAgent()');
  return scope;
}
