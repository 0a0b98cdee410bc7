import { ChatPromptClient } from '@langfuse/client';
import { PromptVariablesMismatchError } from '../errors.js';

export const PROMPT_NAME = 'order-status-answer';
export const DEFAULT_PROMPT_LABEL = 'production';

/** The variable contract between the graph and the managed prompt (SPEC §4). */
export const PROMPT_VARIABLES = ['query', 'region', 'order_state', 'policy_document_ids', 'memory_record_types'] as const;
export type PromptVariables = Record<(typeof PROMPT_VARIABLES)[number], string>;

export interface ChatMessage {
  role: string;
  content: string;
}

/** Model parameters a prompt's `config` may set; anything else in config is ignored. */
export interface PromptModelConfig {
  model?: string;
  temperature?: number;
  maxOutputTokens?: number;
}

/** A fetched prompt version: the TEMPLATE (never compiled messages) is what gets cached. */
export interface PromptTemplate {
  readonly name: string;
  readonly version: number;
  readonly label: string;
  readonly variables: readonly string[];
  readonly modelConfig: PromptModelConfig;
  /** The SDK's client compiles (mustache, no HTML escaping) for Langfuse and local prompts alike. */
  readonly client: ChatPromptClient;
  /** The version as fetched: what the prompt snapshot stores and rebuilds the template from. */
  readonly data: PromptVersionData;
}

export interface PromptVersionData {
  name: string;
  version: number;
  labels: string[];
  prompt: ChatMessage[];
  config?: unknown;
  tags?: string[];
  commitMessage?: string | null;
}

const VARIABLE = /\{\{\{?\s*[#^/&]?\s*([\w.]+)\s*\}?\}\}/g;

export function templateVariables(messages: readonly ChatMessage[]): string[] {
  const names = new Set<string>();
  for (const message of messages) {
    for (const match of message.content.matchAll(VARIABLE)) names.add(match[1] as string);
  }
  return [...names].sort();
}

function modelConfigFrom(config: unknown): PromptModelConfig {
  if (!config || typeof config !== 'object') return {};
  const c = config as Record<string, unknown>;
  const result: PromptModelConfig = {};
  if (typeof c.model === 'string' && /^[\w.:-]{1,64}$/.test(c.model)) result.model = c.model;
  if (typeof c.temperature === 'number' && c.temperature >= 0 && c.temperature <= 2) result.temperature = c.temperature;
  const maxTokens = c.max_output_tokens ?? c.max_tokens;
  if (typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens > 0 && maxTokens <= 4096) {
    result.maxOutputTokens = maxTokens;
  }
  return result;
}

/** Builds the cached template once per fetch: variables and config are parsed here, not per request. */
export function toPromptTemplate(data: PromptVersionData, label: string): PromptTemplate {
  if (!Number.isInteger(data.version) || data.version < 1) {
    throw new Error(`prompt ${data.name} has no usable version`);
  }
  const client = new ChatPromptClient({
    name: data.name,
    version: data.version,
    type: 'chat',
    prompt: data.prompt.map((m) => ({ role: m.role, content: m.content })),
    config: data.config ?? {},
    labels: data.labels,
    tags: data.tags ?? [],
    commitMessage: data.commitMessage ?? undefined,
  });
  return {
    name: data.name,
    version: data.version,
    label,
    variables: templateVariables(data.prompt),
    modelConfig: modelConfigFrom(data.config),
    client,
    data,
  };
}

/** Fails before any model call when the template and the context disagree. */
export function assertVariableContract(template: PromptTemplate, provided: readonly string[] = PROMPT_VARIABLES): void {
  const missing = template.variables.filter((v) => !provided.includes(v));
  const unexpected = provided.filter((v) => !template.variables.includes(v));
  if (missing.length || unexpected.length) {
    throw new PromptVariablesMismatchError(missing, unexpected, template.version);
  }
}

export function compilePrompt(template: PromptTemplate, variables: PromptVariables): ChatMessage[] {
  assertVariableContract(template, Object.keys(variables));
  return template.client.compile(variables) as ChatMessage[];
}
