import { z } from 'zod';
import { ORDER_REFERENCE_PATTERN } from '../domain/orders.js';
import { FEEDBACK_VALUES, NEGATIVE_SIGNALS } from '../quality/quality-signals.js';

/** Pseudonymous ids only: no emails, no spaces, bounded length. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const userId = z.string().regex(ID, 'user_id must be a pseudonymous id (letters, digits, _ . : -; max 64)');

export const orderStatusRequest = z
  .object({
    query: z
      .string()
      .trim()
      .min(1, 'query must not be empty')
      .max(2_000, 'query must be at most 2000 characters')
      .describe('The customer question, e.g. "Where is my order?"'),
    order_reference: z.string().regex(ORDER_REFERENCE_PATTERN, 'order_reference must look like ORDER-<id>').describe('e.g. ORDER-924'),
    region: z.string().regex(/^[a-z]{2,8}$/, 'region must be 2-8 lowercase letters').describe('e.g. eu'),
    user_id: userId,
    conversation_id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'conversation_id must be letters, digits, _ . : - (max 128)')
      .optional()
      .describe('Langfuse session id; generated as conv_<hex> when absent'),
    prompt_label: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/)
      .optional()
      .describe('Only labels listed in PROMPT_OVERRIDABLE_LABELS are accepted; otherwise assigned server-side'),
  })
  .strict();

export type OrderStatusRequest = z.infer<typeof orderStatusRequest>;

export const promptIdentity = z.object({
  name: z.string(),
  version: z.number().int(),
  label: z.string(),
  source: z.enum(['langfuse', 'cache', 'local']),
});

export const orderStatusResponse = z.object({
  outcome: z.string().describe('answer | escalated | budget_stopped'),
  answer: z.string(),
  conversation_id: z.string(),
  trace_id: z.string().optional().describe('W3C trace id of the run; omitted when tracing is disabled'),
  prompt: promptIdentity.optional().describe('Absent when the run escalated before composing an answer'),
  interaction_id: z.string().describe('Opaque, signed handle for POST /feedback and POST /signals (valid INTERACTION_TTL_SECONDS)'),
});

export type OrderStatusResponse = z.infer<typeof orderStatusResponse>;

// Shape and type only: whether this service minted it (and when) is checked by the route (400 invalid_interaction_id).
const interactionId = z.string().describe('The interaction_id of the /order-status answer this is about');

export const feedbackRequest = z
  .object({
    interaction_id: interactionId,
    user_id: userId.describe('Must be the user the answer was given to (else 403)'),
    value: z.enum(FEEDBACK_VALUES).describe('A bounded rating: no free text is accepted'),
  })
  .strict();

export const feedbackAccepted = z.object({
  status: z.literal('accepted'),
  score_id: z.string().optional().describe('`<trace_id>:user_feedback`: a new vote on the same answer replaces the old one'),
});

export const signalRequest = z
  .object({
    interaction_id: interactionId,
    user_id: userId.describe('Must be the user the answer was given to (else 403)'),
    signal: z.enum(NEGATIVE_SIGNALS).describe('A negative signal: a selector for review, not a correctness label'),
  })
  .strict();

export const signalAccepted = z.object({ status: z.literal('accepted') });

export const errorBody = z.object({
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      field: z.string().optional(),
    })
    .loose(),
});

/** One `update` event's data: `{"<step>": {<allowlisted fields>}}` (src/agent/stream-updates.ts). */
const graphUpdate = z
  .record(
    z.string(),
    z
      .object({
        policy_document_ids: z.array(z.string()),
        memory_record_types: z.array(z.string()),
        order_state: z.string(),
        outcome: z.string(),
        escalation_reason: z.string(),
        prompt_name: z.string(),
        prompt_version: z.number().int(),
        prompt_label: z.string(),
        prompt_source: z.string(),
        capture_mode: z.string(),
        capture_policy_version: z.string(),
      })
      .partial(),
  )
  .describe('one graph step: its name → only the allowlisted fields it updated (never query, answer or user_id)');

/**
 * The events of `POST /order-status/stream`, for the OpenAPI document. On the wire each is
 * `event: <event>` then `data: <data as JSON>` and a blank line, in this order: metadata,
 * update (per step), token (while the answer is written), then done or error.
 */
export const orderStatusStreamEvent = z
  .discriminatedUnion('event', [
    z.object({ event: z.literal('metadata'), data: z.object({ conversation_id: z.string(), trace_id: z.string().optional() }) }),
    z.object({ event: z.literal('update'), data: graphUpdate }),
    z.object({ event: z.literal('token'), data: z.object({ text: z.string().describe('the next piece of the answer') }) }),
    z.object({ event: z.literal('done'), data: orderStatusResponse.describe('exactly the POST /order-status 200 body') }),
    z.object({ event: z.literal('error'), data: errorBody.describe('the run failed after the stream began; the stream ends') }),
  ])
  .describe('text/event-stream: `event: <event>` + `data: <JSON>` per event: metadata, update per graph step, token, then done or error');
