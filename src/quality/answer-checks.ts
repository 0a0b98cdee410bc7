/**
 * Deterministic checks of an answered run (book ch-20: "use deterministic checks
 * before LLM judges"). No model call: they read the answer and what the run's
 * tools returned, which the agent's result carries.
 */

/** What the checks read from a run whose outcome is `answer`. */
export interface CheckedRun {
  answer: string;
  /** The order state the tool returned (`unknown` when the read was denied). */
  order_state: string;
  policy_document_ids: readonly string[];
  /** How the order tool answered: `denied` when it refused the read (src/agent/nodes/fetch-order.ts). */
  order_lookup: string;
}

export const ANSWER_CORRECTNESS_RUBRIC = 'answer-correctness-v1';
export const POLICY_COMPLIANCE_RUBRIC = 'policy-compliance-v1';

/**
 * How an answer may state each order state (answer-correctness-v1). Lower case;
 * `_` and `-` in the answer read as spaces.
 */
const STATE_PHRASES: Readonly<Record<string, readonly string[]>> = {
  processing: ['processing', 'being processed', 'being prepared'],
  in_transit: ['in transit', 'on its way', 'out for delivery', 'shipped'],
  delivered: ['delivered'],
  cancelled: ['cancelled', 'canceled'],
};

/** Policy document ids as the index names them: `policy-<region>-<topic>-v<N>`. */
const POLICY_DOCUMENT_ID = /\bpolicy-[a-z0-9]+(?:-[a-z0-9]+)*-v\d+\b/gi;

const normalise = (text: string) => ` ${text.toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ')} `;
const mentions = (haystack: string, phrase: string) => new RegExp(`[^a-z0-9]${phrase.replace(/ /g, '\\s')}[^a-z0-9]`).test(haystack);

function phrasesFor(state: string): readonly string[] {
  return STATE_PHRASES[state] ?? [state.replace(/_/g, ' ')];
}

/** 1 when the answer states the order state the tool returned, else 0. */
export function answerCorrectness(run: CheckedRun): 0 | 1 {
  if (!run.order_state || run.order_state === 'unknown' || run.order_state === 'missing') return 0;
  const text = normalise(run.answer);
  return phrasesFor(run.order_state).some((p) => mentions(text, p)) ? 1 : 0;
}

export type PolicyViolation = 'unretrieved_policy_document' | 'unreadable_order_state';

/**
 * policy-compliance-v1: a violation when the answer names a policy document id
 * that was not retrieved for this run, or states an order state although the
 * tool denied the caller the read (the caller may read no state at all then).
 */
export function policyViolations(run: CheckedRun): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  const retrieved = new Set(run.policy_document_ids.map((id) => id.toLowerCase()));
  const named = run.answer.match(POLICY_DOCUMENT_ID) ?? [];
  if (named.some((id) => !retrieved.has(id.toLowerCase()))) violations.push('unretrieved_policy_document');
  if (run.order_lookup === 'denied') {
    const text = normalise(run.answer);
    if (Object.values(STATE_PHRASES).some((phrases) => phrases.some((p) => mentions(text, p)))) violations.push('unreadable_order_state');
  }
  return violations;
}

export function policyCompliance(run: CheckedRun): 'pass' | 'fail' {
  return policyViolations(run).length === 0 ? 'pass' : 'fail';
}
