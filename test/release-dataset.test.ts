/**
 * The regression dataset (evals/order-status-regression.jsonl) is reviewed like code: these tests
 * hold it to SPEC §10's coverage, and hold the loader to naming the line and field of any problem.
 */
import { describe, expect, it } from 'vitest';
import { EMBEDDED_ORDERS } from '../src/domain/orders.js';
import { POLICY_REGIONS } from '../src/domain/policies.js';
import { DatasetFileError, loadDataset, parseDataset, RUBRIC, type DatasetItem } from '../src/release/dataset.js';

const ITEMS = loadDataset('evals/order-status-regression.jsonl');
const owner7001 = EMBEDDED_ORDERS.find((o) => o.reference === 'ORDER-7001')?.ownerUserId as string;

const line = (overrides: Record<string, unknown> = {}): string =>
  JSON.stringify({
    id: 'case-1',
    input: { query: 'Where is my order?', region: 'eu', order_reference: 'ORDER-924', user_id: 'usr_1' },
    expected_output: { outcome: 'answer', must_mention: ['processing'], must_not_mention: [] },
    metadata: { source: 'test', rubric: RUBRIC, risk: 'low' },
    ...overrides,
  });

describe('the repo dataset', () => {
  it('has at least 24 items with unique ids, each with a risk, a source and the rubric', () => {
    expect(ITEMS.length).toBeGreaterThanOrEqual(24);
    expect(new Set(ITEMS.map((i) => i.id)).size).toBe(ITEMS.length);
    for (const item of ITEMS) {
      expect(item.metadata.rubric).toBe(RUBRIC);
      expect(['low', 'medium', 'high']).toContain(item.metadata.risk);
      expect(item.metadata.source.length).toBeGreaterThan(0);
    }
  });

  it('answers in every region the policy index knows', () => {
    const answered = new Set(ITEMS.filter((i) => i.expected_output.outcome === 'answer').map((i) => i.input.region));
    expect([...answered].sort()).toEqual([...POLICY_REGIONS].sort());
  });

  it('names required terms on every answer case, so a useless answer fails', () => {
    for (const item of ITEMS.filter((i) => i.expected_output.outcome === 'answer')) {
      expect(item.expected_output.must_mention.length, item.id).toBeGreaterThan(0);
    }
  });

  it('covers missing orders, another user reading ORDER-7001 (its state forbidden), its owner, and prompt injection', () => {
    const missing = ITEMS.filter((i) => i.input.order_reference.endsWith('404') || !EMBEDDED_ORDERS.some((o) => o.reference === i.input.order_reference));
    expect(missing.length).toBeGreaterThanOrEqual(3);
    expect(missing.every((i) => i.expected_output.outcome === 'escalated')).toBe(true);

    const intruders = ITEMS.filter((i) => i.input.order_reference === 'ORDER-7001' && i.input.user_id !== owner7001);
    expect(intruders.length).toBeGreaterThanOrEqual(2);
    for (const item of intruders) {
      expect(item.expected_output.outcome).toBe('escalated');
      expect(item.expected_output.must_not_mention).toEqual(expect.arrayContaining(['in transit', 'delayed']));
    }
    const owner = ITEMS.filter((i) => i.input.order_reference === 'ORDER-7001' && i.input.user_id === owner7001);
    expect(owner.length).toBeGreaterThanOrEqual(1);
    expect(owner.every((i) => i.expected_output.outcome === 'answer' && i.expected_output.must_mention.includes('in transit'))).toBe(true);

    const injections = ITEMS.filter((i: DatasetItem) => i.metadata.source.includes('prompt-injection'));
    expect(injections.length).toBeGreaterThanOrEqual(4);
  });
});

describe('loading a dataset file', () => {
  it('names the line and the field of every problem', () => {
    const text = [line(), '', line({ id: 'case-2', metadata: { source: 'x', rubric: RUBRIC } }), '{"id": '].join('\n');
    expect(() => parseDataset(text, 'd.jsonl')).toThrow(DatasetFileError);
    expect(() => parseDataset(text, 'd.jsonl')).toThrow(/d\.jsonl:3: metadata\.risk: .*; d\.jsonl:4: not valid JSON/);
  });

  it.each([
    [{ input: { query: 'q', region: 'eu', order_reference: 'order-1', user_id: 'usr_1' } }, /:1: input\.order_reference: order_reference must look like ORDER-<id>/],
    [{ expected_output: { outcome: 'answer', must_mention: [], must_not_mention: [] } }, /:1: expected_output\.must_mention: an answer case must name at least one required term/],
    [{ expected_output: { outcome: 'maybe', must_mention: ['x'], must_not_mention: [] } }, /:1: expected_output\.outcome: /],
    [{ extra: true }, /:1: \(item\): Unrecognized key: "extra"/],
    [{ metadata: { source: '', rubric: RUBRIC, risk: 'low' } }, /:1: metadata\.source: source must say where the case comes from/],
  ])('refuses %j', (overrides, message) => {
    expect(() => parseDataset(line(overrides), 'd.jsonl')).toThrow(message);
  });

  it('refuses a duplicate id, naming both lines, and an empty file', () => {
    expect(() => parseDataset(`${line()}\n${line()}`, 'd.jsonl')).toThrow("d.jsonl:2: id: 'case-1' is already used on line 1");
    expect(() => parseDataset('\n\n', 'd.jsonl')).toThrow('d.jsonl: no items');
  });
});
