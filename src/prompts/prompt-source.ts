import type { PromptTemplate } from './prompt-template.js';

/** Where prompt templates come from. Swapped at the edges (Langfuse, local file, test doubles). */
export interface PromptSource {
  /** `langfuse` or `local`: reported as the run's `prompt_source` while the template is fresh. */
  readonly kind: 'langfuse' | 'local';
  /** Fetches the version holding `label`. Never falls back to `latest` or another label. */
  fetch(name: string, label: string): Promise<PromptTemplate>;
}

/** A source that can also read one version by number (the release gate pins a run to a version). */
export interface VersionedPromptSource extends PromptSource {
  /** Version `version` of `name`, whatever labels it holds; `label` is what the run reports it was asked for. */
  fetchVersion(name: string, version: number, label: string): Promise<PromptTemplate>;
}

/** The label does not exist (Langfuse 404): fail closed, do not retry as if it were an outage. */
export class PromptNotFoundError extends Error {
  override name = 'PromptNotFoundError';
}

/** Normalised fetch timeout, whatever the client library reports. */
export class PromptFetchTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Langfuse answered, but not with a usable chat prompt (bad JSON, wrong type). Treated as an outage. */
export class InvalidPromptResponseError extends Error {
  override name = 'InvalidPromptResponseError';
}

/** Any other failed fetch, with a stable class for spans: `LangfuseServerError`, `LangfuseAuthError`, `ConnectionError`, `LangfuseClientError`. */
export class PromptFetchError extends Error {
  constructor(
    message: string,
    override readonly name: 'LangfuseServerError' | 'LangfuseAuthError' | 'ConnectionError' | 'LangfuseClientError',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
