import { promptVersions, readPromptFile } from '../../src/prompts/local-prompt-source.js';
import { startLangfusePromptStandIn, type LangfusePromptStandIn } from './langfuse-prompt-stand-in.js';

/** A Langfuse stand-in holding the repo's prompt file as `npm run prompts -- seed` would leave it. */
export function startSeededLangfuse(publicKey: string, secretKey: string): Promise<LangfusePromptStandIn> {
  const versions = promptVersions(readPromptFile('prompts/order-status-answer.json'));
  return startLangfusePromptStandIn({ publicKey, secretKey, prompts: versions.map((v) => ({ ...v, type: 'chat' as const })) });
}
