import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PromptResolver } from '../../prompts/prompt-resolver.js';
import { DEFAULT_PROMPT_LABEL } from '../../prompts/prompt-template.js';

export interface HealthOptions {
  prompts: PromptResolver;
  /** Labels that must be resolvable before the service takes traffic. */
  requiredLabels: readonly string[];
}

/** `/healthz`: the process is up. `/readyz`: the production prompt (and experiment labels) can be served. */
export const healthRoutes: FastifyPluginAsyncZod<HealthOptions> = async (app, { prompts, requiredLabels }) => {
  const labels = [...new Set([DEFAULT_PROMPT_LABEL, ...requiredLabels])];

  app.get('/healthz', { schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/readyz', { schema: { tags: ['health'] } }, async (_request, reply) => {
    const missing = labels.filter((label) => !prompts.isResolvable(label));
    if (missing.length === 0) return { status: 'ready', prompt_source: prompts.sourceKind };
    return reply.code(503).send({
      error: { code: 'not_ready', message: `prompt labels not resolvable yet: ${missing.join(', ')}`, labels: missing },
    });
  });
};
