import { coerceMessageLikeToMessage, type AIMessage, type AIMessageChunk, type UsageMetadata } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import type { AnswerModel, ModelApi, ModelRequest, ModelResult, ModelStreamPart } from './answer-model.js';
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
    const metadata = message.response_metadata as ResponseMetadata;
    return {
      text: message.text,
      responseModel: metadata.model_name ?? metadata.model ?? request.model,
      responseId: metadata.id ?? message.id,
      usage: toUsage(message.usage_metadata),
    };
  }

  /**
   * Streams through ChatOpenAI (Responses or Chat Completions). Usage is asked for: ChatOpenAI
   * sends `stream_options.include_usage` on Chat Completions (`streamUsage`), and the Responses
   * API reports it in `response.completed`. The stream is pulled chunk by chunk, so a slow
   * consumer leaves the provider's bytes in the socket.
   *
   * It reads ChatOpenAI's chunk generator (`_streamResponseChunks`, public in its types: the
   * method `.stream()` wraps) rather than `.stream()` itself. `.stream()` adds, per chunk, a
   * signal race, callback dispatch and a merge of every chunk so far into one message for
   * LangSmith-style callbacks, none of which this service uses (it traces with OpenTelemetry):
   * ~1 ms CPU of a 40-token answer on Node 24, a fifth of a streamed request.
   */
  async *stream(request: ModelRequest): AsyncGenerator<ModelStreamPart> {
    const client = this.client(request);
    const generations = client._streamResponseChunks(
      request.messages.map((m) => coerceMessageLikeToMessage({ role: m.role, content: m.content })),
      { signal: request.signal } as ChatOpenAI['ParsedCallOptions'],
    );
    let text = '';
    let responseModel: string | undefined;
    let responseId: string | undefined;
    let usage: UsageMetadata | undefined;
    let finished = false;
    for await (const generation of generations) {
      const chunk = generation.message as AIMessageChunk;
      // finish_reason and model_name come as generation info (BaseChatModel.stream merges them too).
      const metadata = { ...generation.generationInfo, ...chunk.response_metadata } as ResponseMetadata;
      responseModel = metadata.model_name ?? metadata.model ?? responseModel;
      responseId = metadata.id ?? chunk.id ?? responseId;
      if (chunk.usage_metadata) usage = chunk.usage_metadata;
      // Chat Completions: a finish_reason; Responses: the response.completed event (its status).
      if (metadata.finish_reason || metadata.status === 'completed' || metadata.status === 'incomplete') finished = true;
      // The generation's own text (the text parts of this delta), not `chunk.text`: that getter
      // translates the message into v1 content blocks on every chunk.
      const delta = generation.text;
      if (delta) {
        text += delta;
        yield { type: 'text', text: delta };
      }
    }
    // LangChain ends the iteration quietly when the signal aborts: make that an error here.
    request.signal.throwIfAborted();
    if (finished) yield { type: 'done', result: { text, responseModel: responseModel ?? request.model, responseId, usage: toUsage(usage) } };
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
        // Streamed Chat Completions ask for the usage chunk (stream_options.include_usage).
        streamUsage: true,
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

interface ResponseMetadata {
  model_name?: string;
  model?: string;
  id?: string;
  finish_reason?: string;
  status?: string;
}

function toUsage(usage: UsageMetadata | undefined): ModelResult['usage'] {
  return (
    usage && {
      inputTokens: usage.input_tokens,
      outputTokens: usage.output_tokens,
      cachedInputTokens: usage.input_token_details?.cache_read,
    }
  );
}

