import { assignPromptLabel, PROMPT_AB_ARMS } from '../src/prompts/label-assignment.js';
import { PromptFetchTimeoutError, type PromptSource } from '../src/prompts/prompt-source.js';
import { runOnce, type Scenario } from './scenario.js';

/** SPEC §6: prompt management, the A/B split and the cache fallback (book ch 19). */

export const promptManagement: Scenario = async (ctx) => {
  const state = await runOnce(ctx, { userId: 'usr_pseudo_prompt_demo', traceName: 'manual-prompt-management', tags: ['order-status', 'prompt-management', 'manual-scenario'] });
  ctx.print(state.outcome);
};

export const promptAbTest: Scenario = async (ctx) => {
  for (const userId of ['usr_prompt_ab_00', 'usr_prompt_ab_01']) {
    const label = assignPromptLabel(userId, PROMPT_AB_ARMS);
    const state = await runOnce(ctx, {
      userId,
      traceName: `manual-prompt-ab-test-${label}`,
      tags: ['order-status', 'prompt-management', 'prompt-ab-test', label],
      promptLabel: label,
    });
    ctx.print(`${label}: ${state.outcome}`);
  }
};

/** A prompt source whose every fetch times out, as an unreachable Langfuse would. */
export function timingOutSource(kind: PromptSource['kind']): PromptSource {
  return { kind, fetch: () => Promise.reject(new PromptFetchTimeoutError('simulated Langfuse prompt fetch timeout')) };
}

export const promptCacheFallback: Scenario = async (ctx) => {
  const userId = 'usr_pseudo_prompt_cache';
  const warmup = await runOnce(ctx, {
    userId,
    traceName: 'manual-prompt-cache-warmup',
    tags: ['order-status', 'prompt-management', 'prompt-cache-warmup'],
    promptLabel: 'production',
  });
  // The explicit seam: swap the prompt source for the second run only, keep the cache.
  const restore = ctx.prompts.replaceSource(timingOutSource(ctx.prompts.sourceKind));
  let fallback;
  try {
    fallback = await runOnce(ctx, {
      userId,
      traceName: 'manual-prompt-cache-fallback',
      tags: ['order-status', 'prompt-management', 'prompt-cache-fallback'],
      promptLabel: 'production',
    });
  } finally {
    restore();
  }
  ctx.print(`warmup: ${warmup.prompt_source} ${warmup.outcome}`);
  ctx.print(`fallback: ${fallback.prompt_source} ${fallback.outcome}`);
};
