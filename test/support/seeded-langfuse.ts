import { repoPromptSeeds, startLangfuseStandIn, type LangfuseStandIn, type MetricsApiMode } from './langfuse-quality-stand-in.js';

/**
 * A Langfuse stand-in holding the repo's prompt file as `npm run prompts -- seed` would leave it,
 * with the scores, metrics and OTLP ingestion APIs on the same port.
 */
export function startSeededLangfuse(publicKey: string, secretKey: string, options: { metricsApi?: MetricsApiMode } = {}): Promise<LangfuseStandIn> {
  return startLangfuseStandIn({ publicKey, secretKey, prompts: repoPromptSeeds(), ...options });
}
