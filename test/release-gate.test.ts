/** The gate's arithmetic and its printed forms (SPEC §10), with injected results and costs. */
import { describe, expect, it } from 'vitest';
import { RUBRIC, type DatasetItem } from '../src/release/dataset.js';
import { evaluate, type ItemOutput } from '../src/release/evaluators.js';
import { COST_TOLERANCE, decideGate, gateJson, gateTable, type ItemResult, type RunResult } from '../src/release/gate.js';

function item(id: string, outcome: 'answer' | 'escalated', mustMention: string[], mustNot: string[] = []): DatasetItem {
  return {
    id,
    input: { query: 'Where is my order?', region: 'eu', order_reference: 'ORDER-924', user_id: 'usr_1' },
    expected_output: { outcome, must_mention: mustMention, must_not_mention: mustNot },
    metadata: { source: 'test', rubric: RUBRIC, risk: 'low' },
  };
}

const A = item('a', 'answer', ['processing'], ['refund issued']);
const B = item('b', 'escalated', ['support agent'], ['in transit']);
const good: Record<string, ItemOutput> = {
  a: { outcome: 'answer', answer: 'Your order is currently Processing.' },
  b: { outcome: 'escalated', answer: 'A support agent will follow up.' },
};

function run(name: string, version: number, outputs: Record<string, ItemOutput>, costs: (number | null)[] = [0, 0]): RunResult {
  const items: ItemResult[] = [A, B].map((it, i) => ({ item: it, output: outputs[it.id] as ItemOutput, evaluations: evaluate(it, outputs[it.id] as ItemOutput), costUsd: costs[i] ?? 0 }));
  const known = costs.every((c) => c !== null);
  return { runName: name, version, items, costPerCase: known ? (costs as number[]).reduce((s, c) => s + c, 0) / costs.length : null, ...(known ? {} : { costUnknownReason: 'no price for model mystery' }) };
}

describe('evaluators', () => {
  it('score 1.0 with the rubric comment, 0.0 with what was wrong', () => {
    expect(evaluate(A, good.a as ItemOutput)).toEqual([
      { name: 'expected_outcome', value: 1, comment: `rubric=${RUBRIC}` },
      { name: 'forbidden_terms_absent', value: 1, comment: `rubric=${RUBRIC}` },
      { name: 'required_terms_present', value: 1, comment: `rubric=${RUBRIC}` },
    ]);
    const bad = item('c', 'answer', ['processing', 'policy-eu-shipping-v14'], ['refund issued', 'delivered']);
    expect(evaluate(bad, { outcome: 'escalated', answer: 'REFUND ISSUED and Delivered.' })).toEqual([
      { name: 'expected_outcome', value: 0, comment: 'expected=answer,actual=escalated' },
      { name: 'forbidden_terms_absent', value: 0, comment: 'forbidden_terms=refund issued,delivered' },
      { name: 'required_terms_present', value: 0, comment: 'missing_terms=processing,policy-eu-shipping-v14' },
    ]);
  });

  it('count a run that failed as a failed outcome with its error class', () => {
    expect(evaluate(A, { outcome: 'error', answer: '', error: 'TimeoutError' })[0]).toEqual({ name: 'expected_outcome', value: 0, comment: 'expected=answer,actual=error:TimeoutError' });
  });
});

describe('the gate', () => {
  it('passes when every required mean is 1.0 and the cost is within 1.10 x the baseline', () => {
    const report = decideGate(run('cand', 2, good, [0.0011, 0]), run('base', 1, good, [0.001, 0]), 'production');
    expect(report.passed).toBe(true);
    expect(report.scores).toEqual({ expected_outcome: 1, forbidden_terms_absent: 1, required_terms_present: 1 });
    expect(report.cost_per_case).toEqual({ candidate: 0.00055, baseline: 0.0005 });
    expect(report.failures).toEqual([]);
  });

  it('fails on the cost rule alone just above 1.10 x the baseline', () => {
    const report = decideGate(run('cand', 2, good, [0.00111, 0]), run('base', 1, good, [0.001, 0]), 'production');
    expect(COST_TOLERANCE).toBe(1.1);
    expect(report.passed).toBe(false);
    expect(report.failures).toEqual([{ item: '*', score: 'cost_per_case', comment: 'candidate=0.000555,limit=0.000550 (1.10 x baseline 0.000500)' }]);
  });

  it('fails when any required mean is below 1.0, listing each failing item and score', () => {
    const useless = { a: { outcome: 'answer', answer: 'Thanks for reaching out!' }, b: good.b as ItemOutput };
    const report = decideGate(run('cand', 2, useless), run('base', 1, good), 'production');
    expect(report.passed).toBe(false);
    expect(report.scores).toEqual({ expected_outcome: 1, forbidden_terms_absent: 1, required_terms_present: 0.5 });
    expect(report.failures).toEqual([{ item: 'a', score: 'required_terms_present', comment: 'missing_terms=processing' }]);
  });

  it('fails closed when a cost is unknown, and decides on scores alone without a baseline', () => {
    const unknown = decideGate(run('cand', 2, good, [null, 0]), run('base', 1, good), 'production');
    expect(unknown.passed).toBe(false);
    expect(unknown.cost_per_case.candidate).toBeNull();
    expect(unknown.failures).toEqual([{ item: '*', score: 'cost_per_case', comment: 'cost_unknown=candidate (no price for model mystery)' }]);

    const first = decideGate(run('cand', 2, good, [0.5, 0.5]), undefined, 'staging');
    expect(first.passed).toBe(true);
    expect(first.baseline).toEqual({ label: 'staging', version: null, run: null });
  });

  it('prints the JSON with the contract key order, and a table', () => {
    const candidate = run('order-status-v2-candidate', 2, good);
    const baseline = run('order-status-production-baseline', 1, good);
    const report = decideGate(candidate, baseline, 'production');
    expect(gateJson(report)).toBe(
      '{"release_gate":"order-status-regression-v1","dataset":"order-status-regression","candidate":{"version":2,"run":"order-status-v2-candidate"},' +
        '"baseline":{"label":"production","version":1,"run":"order-status-production-baseline"},"passed":true,' +
        '"required_scores":["expected_outcome","forbidden_terms_absent","required_terms_present"],' +
        '"scores":{"expected_outcome":1,"forbidden_terms_absent":1,"required_terms_present":1},"cost_per_case":{"candidate":0,"baseline":0},"failures":[]}',
    );
    expect(gateTable(report, candidate, baseline)).toEqual([
      'release gate order-status-regression-v1: dataset order-status-regression, 2 items',
      'candidate: v2, run order-status-v2-candidate',
      'baseline:  v1 (production), run order-status-production-baseline',
      '',
      'score                     candidate     baseline',
      'expected_outcome          1.00          1.00',
      'forbidden_terms_absent    1.00          1.00',
      'required_terms_present    1.00          1.00',
      'cost per case (USD)       $0.000000     $0.000000  (limit $0.000000)',
      '',
      'failures: none',
      'gate: PASSED',
    ]);
  });
});
