import type { AgentStateUpdate } from './state.js';

/**
 * The only state fields a graph-update event may carry (SPEC §12, book ch 26). Never `query`,
 * `answer`, `user_id`, `order_reference` or anything not listed: the stream is an output path
 * like a span or a log line, so it gets an allowlist, not a blocklist.
 */
export const SAFE_UPDATE_FIELDS: ReadonlySet<string> = new Set([
  'policy_document_ids',
  'memory_record_types',
  'order_state',
  'outcome',
  'escalation_reason',
  'prompt_name',
  'prompt_version',
  'prompt_label',
  'prompt_source',
  'capture_mode',
  'capture_policy_version',
]);

/** One graph step's update as a client may see it: `{"<step>": {<allowlisted fields>}}`. */
export type SafeUpdate = Record<string, Record<string, unknown>>;

/**
 * The sanitizer every graph update passes through before it leaves the process. Returns
 * undefined when nothing of the step's update may be shown. (Another user's order state never
 * reaches the state in the first place: the order tool writes `unknown` on a denied read.)
 */
export function sanitizeUpdate(step: string, update: AgentStateUpdate): SafeUpdate | undefined {
  let safe: Record<string, unknown> | undefined;
  for (const [field, value] of Object.entries(update)) {
    if (!SAFE_UPDATE_FIELDS.has(field) || value === undefined) continue;
    (safe ??= {})[field] = value;
  }
  return safe && { [step]: safe };
}

/**
 * What nodes write to LangGraph's `custom` stream mode (internal: never sent as is).
 * - `step`: one SPEC step's update, from a LangGraph node that runs several steps (graph.ts
 *   `grouped` layout), so both layouts stream the same per-step updates;
 * - `token`: a text delta of the answer, as the model streams it.
 */
export type StreamChunk = { kind: 'step'; step: string; update: AgentStateUpdate } | { kind: 'token'; text: string };

/** What a streaming caller receives from OrderStatusAgent.stream(). */
export type AgentStreamEvent =
  | { type: 'started'; traceId: string | undefined }
  | { type: 'update'; update: SafeUpdate }
  | { type: 'token'; text: string };
