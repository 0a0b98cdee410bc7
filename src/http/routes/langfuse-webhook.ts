import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../clock.js';
import type { Fleet } from '../../fleet/fleet.js';
import type { PromptChange } from '../../prompts/prompt-change.js';
import { errorBody } from '../error-handler.js';
import { errorBody as errorBodySchema } from '../schemas.js';
import { SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, verifyLangfuseWebhook } from '../webhook-signature.js';

export const WEBHOOK_PATH = '/webhooks/langfuse';
/** Langfuse's prompt events are a few KiB (the prompt's messages and config). */
export const WEBHOOK_BODY_LIMIT = 64 * 1024;

export interface LangfuseWebhookOptions {
  secret: string;
  /** Only this prompt's events matter here. */
  promptName: string;
  clock: Clock;
  fleet: Pick<Fleet, 'promptChanged' | 'deliveries'>;
}

/** Langfuse's `prompt-version` event (packages/shared/src/domain/webhooks.ts, apiVersion v1); other fields are kept, not needed. */
export const promptVersionEvent = z.looseObject({
  id: z.string().min(1).max(200),
  timestamp: z.string().optional(),
  type: z.literal('prompt-version'),
  apiVersion: z.literal('v1'),
  action: z.enum(['created', 'updated', 'deleted']),
  prompt: z.looseObject({
    name: z.string(),
    version: z.number().int().positive(),
    labels: z.array(z.string().max(64)).max(100).default([]),
  }),
});

const webhookReply = z.object({
  status: z
    .enum(['accepted', 'ignored', 'duplicate'])
    .describe('accepted: a prompt-version event for this prompt, refetched in the background; duplicate: this delivery id was seen within the hour; ignored: anything else'),
});

type WebhookReply = z.infer<typeof webhookReply>;

const deliveryId = z.looseObject({ id: z.string().min(1).max(200) });

/**
 * `POST /webhooks/langfuse` (SPEC §11). The signature is the authentication (no bearer key):
 * it is checked over the raw bytes before anything is parsed, and nothing happens without it.
 * A well-signed event is answered at once and never with a 5xx: Langfuse retries only
 * briefly and turns the automation off after 5 failures in a row.
 */
export const langfuseWebhookRoutes: FastifyPluginAsync<LangfuseWebhookOptions> = async (app, options) => {
  const { secret, promptName, clock, fleet } = options;

  // Raw bytes for this route only: re-serialising parsed JSON would not reproduce what was signed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.post(
    WEBHOOK_PATH,
    {
      bodyLimit: WEBHOOK_BODY_LIMIT,
      schema: {
        tags: ['webhooks'],
        summary: 'Langfuse prompt webhook (Automations): refetch a moved label on every replica',
        description:
          `Create it in Langfuse under Prompts → Automations (event: prompt version created/updated/deleted; action: webhook). ` +
          `Authenticated by \`${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(LANGFUSE_WEBHOOK_SECRET, "<t>.<raw body>")>\`, ` +
          `at most ${SIGNATURE_TOLERANCE_SECONDS} s from now; JSON body up to ${WEBHOOK_BODY_LIMIT / 1024} KiB. Exists only when LANGFUSE_WEBHOOK_SECRET is set.`,
        headers: z.object({ [SIGNATURE_HEADER]: z.string().optional().describe('t=<unix seconds>,v1=<hex>') }),
        body: promptVersionEvent.describe('Langfuse `prompt-version` event (other well-signed events are acknowledged and ignored)'),
        response: { 200: webhookReply, 400: errorBodySchema, 401: errorBodySchema, 413: errorBodySchema, 415: errorBodySchema },
      },
      // The body schema above documents the event; it is checked only after the signature, by hand.
      validatorCompiler: (route) =>
        route.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]),
    },
    async (request: FastifyRequest, reply: FastifyReply): Promise<WebhookReply | FastifyReply> => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers[SIGNATURE_HEADER];
      const check = verifyLangfuseWebhook(typeof header === 'string' ? header : undefined, raw, secret, clock.now());
      if (!check.ok) {
        request.log.info({ reason: check.reason }, 'Langfuse webhook refused: invalid signature');
        return reply.code(401).send(errorBody('invalid_signature', `missing or invalid ${SIGNATURE_HEADER}`));
      }

      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply.code(400).send(errorBody('invalid_json', 'the body is not JSON'));
      }

      const id = deliveryId.safeParse(payload);
      if (id.success && !(await fleet.deliveries.firstSeen(id.data.id).catch(() => true))) {
        request.log.info({ eventId: id.data.id }, 'Langfuse webhook: duplicate delivery');
        return { status: 'duplicate' };
      }

      const event = promptVersionEvent.safeParse(payload);
      if (!event.success || event.data.prompt.name !== promptName) {
        request.log.info({ eventId: id.success ? id.data.id : undefined, type: (payload as { type?: unknown } | null)?.type }, 'Langfuse webhook: event ignored');
        return { status: 'ignored' };
      }
      const { prompt } = event.data;
      const change: PromptChange = { eventId: event.data.id, promptName: prompt.name, version: prompt.version, labels: prompt.labels, action: event.data.action };
      fleet.promptChanged(change);
      return { status: 'accepted' };
    },
  );
};
