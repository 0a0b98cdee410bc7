import { fallback, retry, retryClassification, success } from './model-call-scenarios.js';
import { promptAbTest, promptCacheFallback, promptManagement } from './prompt-scenarios.js';
import { feedback, negativeSignal } from './quality-scenarios.js';
import type { Scenario } from './scenario.js';
import { graphUpdatesStream, stream } from './streaming-scenarios.js';

/** Every scenario by its CLI name. Add a scenario here AND in SEED_ORDER. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  success,
  stream,
  'graph-updates-stream': graphUpdatesStream,
  retry,
  fallback,
  'retry-classification': retryClassification,
  feedback,
  'negative-signal': negativeSignal,
  'prompt-management': promptManagement,
  'prompt-ab-test': promptAbTest,
  'prompt-cache-fallback': promptCacheFallback,
};

/** What `all` runs: the seed runner's eleven scenarios, in its order (SPEC §6). */
export const SEED_ORDER: readonly string[] = [
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
