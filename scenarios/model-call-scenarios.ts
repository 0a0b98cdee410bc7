import { SpanStatusCode } from '@opentelemetry/api';
import { isRetryable } from '../src/model/model-call.js';
import { PROVIDER_FAILURES, simulatedProviderError } from '../src/model/fault-injection.js';
import { newConversationId, withTraceContext } from '../src/telemetry/trace-context.js';
import { manualTraceContext, runOnce, type Scenario, type ScenarioContext } from './scenario.js';

/**
 * SPEC §6, the book's chapter 14: the model call succeeding, retrying, falling back, and the
 * retry policy's classification. Failures are injected through the model seam
 * (FaultInjectingModel), in front of the configured model; the retry and fallback machinery
 * that handles them is the service's own.
 */
const USER = 'usr_pseudo_model_demo';
const tags = (name: string) => ['order-status', name, 'manual-scenario'];

async function modelRun(ctx: ScenarioContext, name: string): Promise<void> {
  const state = await runOnce(ctx, { userId: USER, traceName: `manual-${name}`, tags: tags(name) });
  ctx.print(state.outcome);
}

export const success: Scenario = (ctx) => modelRun(ctx, 'success');

/** The first attempt times out; the second answers (`model.retry` event, `app.retry.final_attempt`=2). */
export const retry: Scenario = async (ctx) => {
  ctx.faults.failNext('timeout', 1);
  try {
    await modelRun(ctx, 'retry');
  } finally {
    ctx.faults.clear();
  }
};

/**
 * The primary model answers 429 rate_limit on every attempt the retry policy makes; then the
 * fallback model (OPENAI_FALLBACK_MODEL, else the configured model) answers (`model.fallback`).
 */
export const fallback: Scenario = async (ctx) => {
  ctx.faults.failNext('rate_limit', ctx.maxRetries + 1);
  try {
    await modelRun(ctx, 'fallback');
  } finally {
    ctx.faults.clear();
  }
};

/** No model call: the service's own retry policy (model-call.ts) classifies sample provider errors. */
export const retryClassification: Scenario = async (ctx) => {
  const conversationId = newConversationId();
  const name = 'retry-classification';
  const verdicts = PROVIDER_FAILURES.map((kind) => [kind, isRetryable(simulatedProviderError(kind))] as const);
  withTraceContext(manualTraceContext(ctx, conversationId, USER, `manual-${name}`, tags(name)), () => {
    const span = ctx.tracer.startSpan(`invoke_agent manual-${name}`, {
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.conversation.id': conversationId,
        'app.manual_scenario': name,
        ...Object.fromEntries(verdicts.map(([kind, retryable]) => [`app.retryable.${kind}`, retryable])),
        'app.task.outcome': 'success',
      },
    });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  });
  for (const [kind, retryable] of verdicts) ctx.print(`${kind}: ${retryable ? 'retryable' : 'not retryable'}`);
};
