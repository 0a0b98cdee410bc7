import type { Tracer } from '@opentelemetry/api';
import type { AgentRun, OrderStatusAgent } from '../src/agent/order-status-agent.js';
import type { AgentInput } from '../src/agent/state.js';
import type { FaultInjectingModel } from '../src/model/fault-injection.js';
import type { PromptResolver } from '../src/prompts/prompt-resolver.js';
import type { QualitySignals } from '../src/quality/quality-signals.js';
import { newConversationId, type TraceContext } from '../src/telemetry/trace-context.js';

/** What a scenario needs: the agent and its seams (prompt source, model faults), quality signals, and a stdout line writer. */
export interface ScenarioContext {
  agent: OrderStatusAgent;
  prompts: PromptResolver;
  quality: QualitySignals;
  /** The model seam with fault injection in front (retry, fallback). */
  faults: FaultInjectingModel;
  /** Retries after a first failed model attempt (OPENAI_MAX_RETRIES). */
  maxRetries: number;
  tracer: Tracer;
  agentVersion: string;
  environment: string;
  print: (line: string) => void;
}

export type Scenario = (ctx: ScenarioContext) => Promise<void>;

/** The book's manual-scenario trace context: fresh session, metadata environment / order-status / eu. */
export function manualTraceContext(ctx: ScenarioContext, sessionId: string, userId: string, traceName: string, tags: readonly string[]): TraceContext {
  return {
    sessionId,
    userId,
    traceName,
    version: ctx.agentVersion,
    tags,
    metadata: { environment: ctx.environment, workflow: 'order-status', region: 'eu' },
  };
}

export interface ManualRun {
  userId: string;
  traceName: string;
  tags: readonly string[];
  promptLabel?: string;
  query?: string;
  orderReference?: string;
}

/** The SPEC §6 inputs: `Where is my order?` about ORDER-924 in `eu`, a fresh `conv_<hex>` session. */
export function manualInput(run: ManualRun): AgentInput {
  return {
    query: run.query ?? 'Where is my order?',
    conversation_id: newConversationId(),
    user_id: run.userId,
    order_reference: run.orderReference ?? 'ORDER-924',
    region: 'eu',
    ...(run.promptLabel ? { prompt_label: run.promptLabel } : {}),
  };
}

/**
 * One manual run as the book's scenarios do it: fresh session, the prompt fetched in the run,
 * and the run's quality checks and interaction id recorded as the HTTP route records them.
 */
export async function runTurn(ctx: ScenarioContext, manual: ManualRun): Promise<{ run: AgentRun; interactionId: string }> {
  const input = manualInput(manual);
  const run = await ctx.agent.run(input, {
    traceContext: manualTraceContext(ctx, input.conversation_id, manual.userId, manual.traceName, manual.tags),
    mustFetchPrompt: true,
  });
  return { run, interactionId: ctx.quality.recordRun(run) };
}

export async function runOnce(ctx: ScenarioContext, manual: ManualRun) {
  return (await runTurn(ctx, manual)).run.state;
}
