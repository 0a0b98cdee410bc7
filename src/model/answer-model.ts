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

/** The one model seam: OpenAI through @langchain/openai, or the offline model. */
export interface AnswerModel {
  readonly api: ModelApi;
  /** `server.address` on the model span. */
  readonly serverAddress: string;
  readonly offline: boolean;
  generate(request: ModelRequest): Promise<ModelResult>;
}
