import type { AIMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import type { AnswerModel, ModelApi, ModelRequest, ModelResult } from './answer-model.js';
import type { FetchFunction } from './node-http-fetch.js';

export interface OpenAiModelOptions {
  apiKey: string;
  baseUrl?: string;
  api: ModelApi;
  attemptTimeoutMs: number;
  /** Optional custom fetch (e.g. node-http-fetch.ts); defaults to the global fetch. */
  fetch?: FetchFunction;
}

/**
 * OpenAI through @langchain/openai. One ChatOpenAI per (model, temperature,
 * max tokens) is built once and reused; retries are ours (see model-call.ts),
 * so LangChain's and the OpenAI SDK's are off.
 */
export class OpenAiAnswerModel implements AnswerModel {
  readonly api: ModelApi;
  readonly serverAddress: string;
  readonly offline = false;
  private readonly clients = new Map<string, ChatOpenAI>();

  constructor(private readonly options: OpenAiModelOptions) {
    this.api = options.api;
    this.serverAddress = new URL(options.baseUrl ?? 'https://api.openai.com/v1').hostname;
  }

  async generate(request: ModelRequest): Promise<ModelResult> {
    const client = this.client(request);
    const message = (await client.invoke(
      request.messages.map((m) => ({ role: m.role, content: m.content })),
      { signal: request.signal },
    )) as AIMessage;
    const usage = message.usage_metadata;
    const metadata = message.response_metadata as { model_name?: string; model?: string; id?: string };
    return {
      text: message.text,
      responseModel: metadata.model_name ?? metadata.model ?? request.model,
      responseId: metadata.id ?? message.id,
      usage: usage && {
        inputTokens: usage.input_tokens,
        outputTokens: usage.output_tokens,
        cachedInputTokens: usage.input_token_details?.cache_read,
      },
    };
  }

  private client(request: ModelRequest): ChatOpenAI {
    const key = `${request.model}|${request.temperature ?? ''}|${request.maxOutputTokens ?? ''}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new ChatOpenAI({
        model: request.model,
        apiKey: this.options.apiKey,
        temperature: request.temperature,
        maxTokens: request.maxOutputTokens,
        timeout: this.options.attemptTimeoutMs,
        maxRetries: 0,
        useResponsesApi: this.options.api === 'responses',
        // Responses API: store=false, nothing kept server-side (SPEC §3).
        zdrEnabled: this.options.api === 'responses',
        configuration: {
          baseURL: this.options.baseUrl,
          maxRetries: 0,
          ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
        },
      });
      this.clients.set(key, client);
    }
    return client;
  }
}
