import { describe, expect, it } from 'vitest';
import { isRetryable } from '../src/model/model-call.js';
import { FaultInjectingModel, PROVIDER_FAILURES, simulatedProviderError } from '../src/model/fault-injection.js';
import { OfflineAnswerModel } from '../src/model/offline-model.js';
import { SCENARIOS, SEED_ORDER } from '../scenarios/registry.js';

/** The seed runner's eleven scenarios, in its order (SPEC §6). */
const SEED = [
  'success',
  'stream',
  'graph-updates-stream',
  'retry',
  'fallback',
  'retry-classification',
  'feedback',
  'negative-signal',
  'prompt-management',
  'prompt-ab-test',
  'prompt-cache-fallback',
];

describe('scenario registry', () => {
  it('all runs the eleven scenarios of the seed runner, each registered, in its order', () => {
    expect(SEED_ORDER).toEqual(SEED);
    expect(Object.keys(SCENARIOS).sort()).toEqual([...SEED].sort());
  });
});

describe('retry classification', () => {
  it('the simulated provider errors are classified by the real policy; a 429 insufficient_quota is never retried', () => {
    expect(PROVIDER_FAILURES.map((kind) => [kind, isRetryable(simulatedProviderError(kind))])).toEqual([
      ['timeout', true],
      ['rate_limit', true],
      ['insufficient_quota', false],
      ['server_error', true],
      ['bad_request', false],
    ]);
  });

  it('the fault-injecting model fails the next attempts, then passes through', async () => {
    const model = new FaultInjectingModel(new OfflineAnswerModel({ wordDelayMs: 0 }));
    model.failNext('rate_limit', 2);
    const request = { messages: [{ role: 'user', content: 'Order state: processing' }], model: 'offline', signal: new AbortController().signal };
    await expect(model.generate(request)).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    const iterator = model.stream(request)[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ status: 429 });
    expect((await model.generate(request)).text).toContain('processing');
  });
});
