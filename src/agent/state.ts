import { Annotation } from '@langchain/langgraph';

/**
 * Graph state (SPEC §2). Field names are snake_case because they travel:
 * `app.workflow.updated_fields` lists them and the API returns some of them.
 */
/**
 * Every channel has a default: LangGraph reads an unset channel by throwing
 * and catching EmptyChannelError, which cost ~220 exceptions (with stack
 * traces) per run before the defaults. Every reducer is last-value-wins, which
 * lets graph.ts run several steps in one node by merging their updates.
 */
const text = () => Annotation<string>({ reducer: (_, next) => next, default: () => '' });
const list = () => Annotation<string[]>({ reducer: (_, next) => next, default: () => [] });
const count = () => Annotation<number>({ reducer: (_, next) => next, default: () => 0 });

export const AgentState = Annotation.Root({
  query: text(),
  conversation_id: text(),
  user_id: text(),
  order_reference: text(),
  region: text(),
  policy_document_ids: list(),
  memory_record_types: list(),
  order_state: text(),
  /** How the order tool answered: found | missing | denied | invalid_arguments (internal; never streamed). */
  order_lookup: text(),
  answer: text(),
  outcome: text(),
  escalation_reason: text(),
  iterations: count(),
  prompt_name: text(),
  prompt_version: count(),
  prompt_label: text(),
  prompt_source: text(),
  capture_mode: text(),
  capture_policy_version: text(),
  /** Span id of the model call (the Langfuse generation), so quality scores can attach to it; empty without one. */
  generation_span_id: text(),
});

export type AgentStateType = typeof AgentState.State;
export type AgentStateUpdate = typeof AgentState.Update;

/** What a caller provides to start a run. */
export interface AgentInput {
  query: string;
  conversation_id: string;
  user_id: string;
  order_reference: string;
  region: string;
  /** Assigned server-side (default `production`); never `latest`. */
  prompt_label?: string;
}

export const ROUTES = ['answer', 'escalate'] as const;
export type Route = (typeof ROUTES)[number];
