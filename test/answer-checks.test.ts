import { describe, expect, it } from 'vitest';
import { answerCorrectness, policyCompliance, policyViolations, type CheckedRun } from '../src/quality/answer-checks.js';

const run = (answer: string, extra: Partial<CheckedRun> = {}): CheckedRun => ({
  answer,
  order_state: 'processing',
  policy_document_ids: ['policy-eu-shipping-v14', 'policy-eu-escalation-v3'],
  order_lookup: 'found',
  ...extra,
});

describe('answer_correctness (answer-correctness-v1)', () => {
  it.each([
    ['Your order is currently processing.', 'processing', 1],
    ['Your order is being processed and ships soon.', 'processing', 1],
    ['Your order is in transit.', 'in_transit', 1],
    ['It is in_transit right now', 'in_transit', 1],
    ['Your parcel is on its way!', 'in_transit', 1],
    ['Your order was delivered yesterday.', 'delivered', 1],
    ['Your order was canceled.', 'cancelled', 1],
    ['Your order has been delivered.', 'processing', 0],
    ['I cannot tell you anything about it.', 'processing', 0],
    ['Preprocessing your request.', 'processing', 0],
  ])('%s (tool said %s) → %i', (answer, state, expected) => {
    expect(answerCorrectness(run(answer, { order_state: state }))).toBe(expected);
  });

  it('is 0 when the tool returned no readable state', () => {
    expect(answerCorrectness(run('processing', { order_state: 'unknown' }))).toBe(0);
  });
});

describe('policy_compliance (policy-compliance-v1)', () => {
  it('passes when only retrieved policy documents are named', () => {
    expect(policyCompliance(run('Your order is processing. This follows policy-eu-shipping-v14 and policy-eu-escalation-v3.'))).toBe('pass');
    expect(policyCompliance(run('Your order is processing.'))).toBe('pass');
  });

  it('fails when the answer names a policy document that was not retrieved for this run', () => {
    const answer = 'Your order is processing; see policy-us-refunds-v8.';
    expect(policyViolations(run(answer))).toEqual(['unretrieved_policy_document']);
    expect(policyCompliance(run(answer))).toBe('fail');
  });

  it('fails when an order state is stated although the tool denied the read', () => {
    const denied = { order_state: 'unknown', order_lookup: 'denied' };
    expect(policyViolations(run('That order is in transit and delayed.', denied))).toEqual(['unreadable_order_state']);
    expect(policyCompliance(run('I cannot share details of this order.', denied))).toBe('pass');
  });
});
