import type { ChatMessage } from '../prompts/prompt-template.js';

export type ModelApi = 'responses' | 'chat_completions';

export interface ModelRequest {
  messages: ChatMessage[];
  model: string;
  temperature?: number;
  maxOutputTokens?: number;
  signal: AbortSignal;
}

export interface ModelResult {
  text: string;
  responseModel: string;
  responseId?: string;
  usage?: { inputTokens: number; outputTokens: number; cachedInputTokens?: number };
}

/**
 * What a streamed call yields: text deltas as the provider sends them, then (when the provider
 * finished the response) one `done` with the response metadata and usage. A stream that ends
 * without `done` was cut short.
 */
export type ModelStreamPart = { type: 'text'; text: string } | { type: 'done'; result: ModelResult };

/** The one model seam: OpenAI through @langchain/openai, or the offline model. */
export interface AnswerModel {
  readonly api: ModelApi;
  /** `server.address` on the model span. */
  readonly serverAddress: string;
  readonly offline: boolean;
  generate(request: ModelRequest): Promise<ModelResult>;
  /**
   * The same call, streamed. Pulled lazily: a slow consumer slows the provider's socket, not
   * memory. A model without it answers a streamed call in one piece (model-call.ts).
   */
  stream?(request: ModelRequest): AsyncIterable<ModelStreamPart>;
}
