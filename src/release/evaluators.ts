import { RUBRIC, type DatasetItem } from './dataset.js';

/** What one item's run produced. `outcome` is `error` when the run failed or timed out. */
export interface ItemOutput {
  outcome: string;
  answer: string;
  /** Error class when the run did not finish (`TimeoutError`, `ModelCallError`, …). */
  error?: string;
}

/** A NUMERIC 1.0 / 0.0 evaluator score, as Langfuse stores it. */
export interface Evaluation {
  name: EvaluatorName;
  value: 0 | 1;
  comment: string;
}

/** The gate requires every one of these (sorted, as the gate JSON lists them). */
export const REQUIRED_SCORES = ['expected_outcome', 'forbidden_terms_absent', 'required_terms_present'] as const;
export type EvaluatorName = (typeof REQUIRED_SCORES)[number];

const PASSED = `rubric=${RUBRIC}`;

/** The run took the expected route (`answer` or `escalated`). */
export function expectedOutcome(item: DatasetItem, output: ItemOutput): Evaluation {
  const expected = item.expected_output.outcome;
  const actual = output.error ? `error:${output.error}` : output.outcome;
  return actual === expected
    ? { name: 'expected_outcome', value: 1, comment: PASSED }
    : { name: 'expected_outcome', value: 0, comment: `expected=${expected},actual=${actual}` };
}

/** Every `must_mention` term appears in the answer (case-insensitive). */
export function requiredTermsPresent(item: DatasetItem, output: ItemOutput): Evaluation {
  const answer = output.answer.toLowerCase();
  const missing = item.expected_output.must_mention.filter((term) => !answer.includes(term.toLowerCase()));
  return missing.length === 0
    ? { name: 'required_terms_present', value: 1, comment: PASSED }
    : { name: 'required_terms_present', value: 0, comment: `missing_terms=${missing.join(',')}` };
}

/** No `must_not_mention` term appears in the answer (case-insensitive). */
export function forbiddenTermsAbsent(item: DatasetItem, output: ItemOutput): Evaluation {
  const answer = output.answer.toLowerCase();
  const found = item.expected_output.must_not_mention.filter((term) => answer.includes(term.toLowerCase()));
  return found.length === 0
    ? { name: 'forbidden_terms_absent', value: 1, comment: PASSED }
    : { name: 'forbidden_terms_absent', value: 0, comment: `forbidden_terms=${found.join(',')}` };
}

/** All three, in the order of REQUIRED_SCORES. Deterministic: no model call. */
export function evaluate(item: DatasetItem, output: ItemOutput): Evaluation[] {
  return [expectedOutcome(item, output), forbiddenTermsAbsent(item, output), requiredTermsPresent(item, output)];
}
