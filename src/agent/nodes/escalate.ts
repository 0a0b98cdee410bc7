import type { NodeBody } from '../traced-node.js';

export const ESCALATION_ANSWER =
  'I could not confirm the status of this order, so I have passed your request to a support agent who will follow up.';

/** Why the order tool's answer needs a person (`order_lookup` from fetch_order). */
const REASONS: Readonly<Record<string, string>> = {
  missing: 'missing_order_state',
  denied: 'order_access_denied',
  invalid_arguments: 'invalid_tool_arguments',
};

/** Hands the case to a person: a fixed answer that reveals nothing about the order. */
export const escalate = (): NodeBody => (state, span) => {
  const reason = state.escalation_reason || REASONS[state.order_lookup] || 'policy_review';
  span.setAttribute('app.escalation.reason', reason);
  return { outcome: 'escalated', answer: ESCALATION_ANSWER, escalation_reason: reason };
};
