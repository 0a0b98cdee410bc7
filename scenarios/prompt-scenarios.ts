import type { AgentRun, OrderStatusAgent } from '../src/agent/order-status-agent.js';
import type { AgentInput } from '../src/agent/state.js';
import { assignPromptLabel, PROMPT_AB_ARMS } from '../src/prompts/label-assignment.js';
import type { PromptResolver } from '../src/prompts/prompt-resolver.js';
import type { QualitySignals } from '../src/quality/quality-signals.js';
import { PromptFetchTimeoutError, type PromptSource } from '../src/prompts/prompt-source.js';
import { newConversationId, type TraceContext } from '../src/telemetry/trace-context.js';

/** What a scenario needs: the agent, the prompt resolver (for the fallback seam), quality signals and a stdout line writer. */
export interface ScenarioContext {
  agent: OrderStatusAgent;
  prompts: PromptResolver;
  quality: QualitySignals;
  agentVersion: string;
  environment: string;
  print: (line: string) => void;
}

export type Scenario = (ctx: ScenarioContext) => Promise<void>;

function traceContext(ctx: ScenarioContext, sessionId: string, userId: string, traceName: string, tags: string[]): TraceContext {
  return {
    sessionId,
    userId,
    traceName,
    version: ctx.agentVersion,
    tags,
    metadata: { environment: ctx.environment, workflow: 'order-status', region: 'eu' },
  };
}

/**
 * One manual run as the book's scenarios do it: fresh session, the prompt fetched in the run,
 * and the run's quality checks and interaction id recorded as the HTTP route records them.
 */
export async function runTurn(
  ctx: ScenarioContext,
  userId: string,
  traceName: string,
  tags: string[],
  promptLabel?: string,
): Promise<{ run: AgentRun; interactionId: string }> {
  const conversationId = newConversationId();
  const input: AgentInput = {
    query: 'Where is my order?',
    conversation_id: conversationId,
    user_id: userId,
    order_reference: 'ORDER-924',
    region: 'eu',
    ...(promptLabel ? { prompt_label: promptLabel } : {}),
  };
  const run = await ctx.agent.run(input, {
    traceContext: traceContext(ctx, conversationId, userId, traceName, tags),
    mustFetchPrompt: true,
  });
  return { run, interactionId: ctx.quality.recordRun(run) };
}

async function runOnce(ctx: ScenarioContext, userId: string, traceName: string, tags: string[], promptLabel?: string) {
  return (await runTurn(ctx, userId, traceName, tags, promptLabel)).run.state;
}

export const promptManagement: Scenario = async (ctx) => {
  const state = await runOnce(ctx, 'usr_pseudo_prompt_demo', 'manual-prompt-management', ['order-status', 'prompt-management', 'manual-scenario']);
  ctx.print(state.outcome);
};

export const promptAbTest: Scenario = async (ctx) => {
  for (const userId of ['usr_prompt_ab_00', 'usr_prompt_ab_01']) {
    const label = assignPromptLabel(userId, PROMPT_AB_ARMS);
    const state = await runOnce(ctx, userId, `manual-prompt-ab-test-${label}`, ['order-status', 'prompt-management', 'prompt-ab-test', label], label);
    ctx.print(`${label}: ${state.outcome}`);
  }
};

/** A prompt source whose every fetch times out, as an unreachable Langfuse would. */
export function timingOutSource(kind: PromptSource['kind']): PromptSource {
  return { kind, fetch: () => Promise.reject(new PromptFetchTimeoutError('simulated Langfuse prompt fetch timeout')) };
}

export const promptCacheFallback: Scenario = async (ctx) => {
  const userId = 'usr_pseudo_prompt_cache';
  const warmup = await runOnce(ctx, userId, 'manual-prompt-cache-warmup', ['order-status', 'prompt-management', 'prompt-cache-warmup'], 'production');
  // The explicit seam: swap the prompt source for the second run only, keep the cache.
  const restore = ctx.prompts.replaceSource(timingOutSource(ctx.prompts.sourceKind));
  let fallback;
  try {
    fallback = await runOnce(ctx, userId, 'manual-prompt-cache-fallback', ['order-status', 'prompt-management', 'prompt-cache-fallback'], 'production');
  } finally {
    restore();
  }
  ctx.print(`warmup: ${warmup.prompt_source} ${warmup.outcome}`);
  ctx.print(`fallback: ${fallback.prompt_source} ${fallback.outcome}`);
};

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  'prompt-management': promptManagement,
  'prompt-ab-test': promptAbTest,
  'prompt-cache-fallback': promptCacheFallback,
};
