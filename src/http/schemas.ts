import { z } from 'zod';
import { ORDER_REFERENCE_PATTERN } from '../domain/orders.js';

/** Pseudonymous ids only: no emails, no spaces, bounded length. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

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
    user_id: z.string().regex(ID, 'user_id must be a pseudonymous id (letters, digits, _ . : -; max 64)'),
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
});

export const errorBody = z.object({
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      field: z.string().optional(),
    })
    .loose(),
});
