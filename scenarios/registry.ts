import { fallback, retry, retryClassification, success } from './model-call-scenarios.js';
import { promptAbTest, promptCacheFallback, promptManagement } from './prompt-scenarios.js';
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
  'prompt-management': promptManagement,
  'prompt-ab-test': promptAbTest,
  'prompt-cache-fallback': promptCacheFallback,
};

/**
 * What `all` runs, in the seed runner's order (SPEC §6). The seed lists eleven; `feedback` and
 * `negative-signal` (§9) come with the quality-signals work and go exactly where marked.
 */
export const SEED_ORDER: readonly string[] = [
  'success',
  'stream',
  'graph-updates-stream',
  'retry',
  'fallback',
  'retry-classification',
  // 'feedback', 'negative-signal': SPEC §9 (issue 11) — insert here, in this order.
  'prompt-management',
  'prompt-ab-test',
  'prompt-cache-fallback',
];
