import { runTurn, type Scenario } from './scenario.js';

/**
 * Book ch-17/ch-20 quality scenarios: one answered run, then a user reaction
 * recorded through the same QualitySignals methods as POST /feedback and POST /signals.
 */

export const feedback: Scenario = async (ctx) => {
  const userId = 'usr_pseudo_feedback_demo';
  const trace = { name: 'manual-feedback', tags: ['order-status', 'feedback', 'manual-scenario'] };
  const { run, interactionId } = await runTurn(ctx, { userId, traceName: trace.name, tags: trace.tags });
  ctx.print(run.state.outcome);
  const receipt = ctx.quality.submitFeedback({ interactionId, userId, value: 'negative' }, trace);
  if (!receipt.interaction.traceId) throw new Error('tracing is disabled (OTEL_SDK_DISABLED): there is no trace to attach the score to');
  ctx.print(`score queued: user_feedback trace_id=${receipt.interaction.traceId} environment=${ctx.environment}`);
};

export const negativeSignal: Scenario = async (ctx) => {
  const userId = 'usr_pseudo_signal_demo';
  const trace = { name: 'manual-negative-signal', tags: ['order-status', 'negative-signal', 'manual-scenario'] };
  const { run, interactionId } = await runTurn(ctx, { userId, traceName: trace.name, tags: trace.tags });
  ctx.print(run.state.outcome);
  const receipt = ctx.quality.submitSignal({ interactionId, userId, signal: 'repeated_question' }, trace);
  if (!receipt.interaction.traceId) throw new Error('tracing is disabled (OTEL_SDK_DISABLED): the signal has no trace to link to');
  ctx.print(`signal recorded: repeated_question trace_id=${receipt.interaction.traceId}`);
};
