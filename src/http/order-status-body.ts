import type { AgentRun } from '../agent/order-status-agent.js';
import type { QualitySignals } from '../quality/quality-signals.js';
import type { OrderStatusResponse } from './schemas.js';

/**
 * The `/order-status` 200 body, built once for every way a turn can end (the
 * JSON route, and the streaming route's `done` event). This is where a finished
 * run gets its quality checks queued and its `interaction_id` minted.
 */
export function orderStatusBody(run: AgentRun, quality: QualitySignals): OrderStatusResponse {
  const { state, traceId } = run;
  const interactionId = quality.recordRun(run);
  return {
    outcome: state.outcome,
    answer: state.answer,
    conversation_id: state.conversation_id,
    ...(traceId ? { trace_id: traceId } : {}),
    ...(state.prompt_name
      ? {
          prompt: {
            name: state.prompt_name,
            version: state.prompt_version,
            label: state.prompt_label,
            source: state.prompt_source as 'langfuse' | 'cache' | 'local',
          },
        }
      : {}),
    interaction_id: interactionId,
  };
}
