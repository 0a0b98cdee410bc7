import { Annotation } from '@langchain/langgraph';

/**
 * Graph state (SPEC §2). Field names are snake_case because they travel:
 * `app.workflow.updated_fields` lists them and the API returns some of them.
 */
export const AgentState = Annotation.Root({
  query: Annotation<string>,
  conversation_id: Annotation<string>,
  user_id: Annotation<string>,
  order_reference: Annotation<string>,
  region: Annotation<string>,
  policy_document_ids: Annotation<string[]>,
  memory_record_types: Annotation<string[]>,
  order_state: Annotation<string>,
  answer: Annotation<string>,
  outcome: Annotation<string>,
  escalation_reason: Annotation<string>,
  iterations: Annotation<number>,
  prompt_name: Annotation<string>,
  prompt_version: Annotation<number>,
  prompt_label: Annotation<string>,
  prompt_source: Annotation<string>,
  capture_mode: Annotation<string>,
  capture_policy_version: Annotation<string>,
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
