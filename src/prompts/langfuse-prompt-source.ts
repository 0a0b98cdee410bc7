import { LangfuseClient } from '@langfuse/client';
import { configureGlobalLogger, LangfuseAPITimeoutError, LogLevel } from '@langfuse/core';
import { InvalidPromptResponseError, PromptFetchError, PromptFetchTimeoutError, PromptNotFoundError, type VersionedPromptSource } from './prompt-source.js';
import { toPromptTemplate, type ChatMessage, type PromptTemplate } from './prompt-template.js';

export interface LangfusePromptSourceOptions {
  publicKey: string;
  secretKey: string;
  baseUrl: string;
  fetchTimeoutMs: number;
}

/**
 * Reads prompts through @langfuse/client with the SDK cache OFF: the SDK would
 * serve a stale entry forever after failed refreshes, so PromptResolver owns
 * caching, staleness bounds and the `langfuse`/`cache` distinction.
 */
export class LangfusePromptSource implements VersionedPromptSource {
  readonly kind = 'langfuse';
  private readonly client: LangfuseClient;

  constructor(private readonly options: LangfusePromptSourceOptions) {
    // The SDK prints failed fetches (raw bodies) with console.error; PromptResolver
    // logs each failure once through pino with a normalised error class instead.
    configureGlobalLogger({ level: LogLevel.NONE });
    this.client = new LangfuseClient({
      publicKey: options.publicKey,
      secretKey: options.secretKey,
      baseUrl: options.baseUrl,
      timeout: Math.ceil(options.fetchTimeoutMs / 1000),
    });
  }

  async fetch(name: string, label: string): Promise<PromptTemplate> {
    return this.get(name, { label }, label);
  }

  async fetchVersion(name: string, version: number, label: string): Promise<PromptTemplate> {
    return this.get(name, { version }, label);
  }

  private async get(name: string, selector: { label: string } | { version: number }, label: string): Promise<PromptTemplate> {
    const what = 'label' in selector ? `label '${selector.label}'` : `version ${selector.version}`;
    try {
      const prompt = await this.client.prompt.get(name, {
        ...selector,
        type: 'chat',
        cacheTtlSeconds: 0,
        maxRetries: 0,
        fetchTimeoutMs: this.options.fetchTimeoutMs,
      });
      // An unparsable 200 body comes back from the SDK as a text prompt with no version.
      if (prompt.isFallback || prompt.type !== 'chat' || !Array.isArray(prompt.prompt) || !Number.isInteger(prompt.version)) {
        throw new InvalidPromptResponseError(`Langfuse returned no usable chat prompt for '${name}' ${what}`);
      }
      if ('label' in selector && !prompt.labels?.includes(label)) {
        throw new PromptNotFoundError(`Prompt '${name}' version ${prompt.version} does not carry label '${label}'`);
      }
      const messages: ChatMessage[] = [];
      for (const item of prompt.prompt) {
        if (!('role' in item) || typeof item.content !== 'string') {
          throw new Error(`Prompt '${name}' version ${prompt.version} contains a placeholder, which the contract does not allow`);
        }
        messages.push({ role: item.role, content: item.content });
      }
      return toPromptTemplate(
        { name, version: prompt.version, labels: prompt.labels, prompt: messages, config: prompt.config, commitMessage: prompt.commitMessage },
        label,
      );
    } catch (error) {
      throw normaliseFetchError(error);
    }
  }
}

/**
 * The SDK's errors carry minified class names and report timeouts as generic
 * errors; spans and logs want a small set of stable classes.
 */
export function normaliseFetchError(error: unknown): Error {
  if (error instanceof PromptNotFoundError || error instanceof PromptFetchTimeoutError || error instanceof InvalidPromptResponseError) return error;
  const e = error instanceof Error ? error : new Error(String(error));
  const status = (e as { statusCode?: unknown }).statusCode;
  if (status === 404) return new PromptNotFoundError(e.message);
  if (e instanceof LangfuseAPITimeoutError || e.name === 'TimeoutError' || e.name === 'AbortError' || /timed? ?out|timeout/i.test(e.message)) {
    return new PromptFetchTimeoutError(e.message);
  }
  if (typeof status === 'number') {
    if (status === 401 || status === 403) return new PromptFetchError(`Langfuse rejected the keys (${status})`, 'LangfuseAuthError', { cause: e });
    if (status >= 500 || status === 429) return new PromptFetchError(`Langfuse answered ${status}`, 'LangfuseServerError', { cause: e });
    return new PromptFetchError(`Langfuse answered ${status}`, 'LangfuseClientError', { cause: e });
  }
  return new PromptFetchError(`cannot reach Langfuse: ${e.message}`, 'ConnectionError', { cause: e });
}
