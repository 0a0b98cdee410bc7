/** Bounded calls to the Langfuse public API for the admin CLIs, with operator-readable failures. */

/** A failure with a message meant for the operator, as is. `status` is the HTTP status when Langfuse answered. */
export class PromptAdminError extends Error {
  override name = 'PromptAdminError';
  constructor(
    message: string,
    readonly status?: number,
    /** The server's own message (e.g. to recognise Langfuse v4's "not available" 404). */
    readonly serverMessage?: string,
  ) {
    super(message);
  }
}

/** What @langfuse/client's `api.*` methods take as their second argument. */
export interface RequestOptions {
  abortSignal: AbortSignal;
  timeoutInSeconds: number;
  maxRetries: number;
}

export interface LangfuseCallOptions {
  /** Printable base URL (no userinfo): see publicUrl. */
  baseUrl: string;
  timeoutMs: number;
  /** What the calls are about, for debug logs (a prompt or dataset name). */
  subject: string;
  logger?: { debug(obj: object, msg: string): void } | undefined;
}

/** One bounded request (retries included) with its failure turned into an operator message. */
export async function langfuseCall<T>(
  options: LangfuseCallOptions,
  what: string,
  maxRetries: number,
  request: (requestOptions: RequestOptions) => Promise<T>,
): Promise<T> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  options.logger?.debug({ subject: options.subject, request: what }, 'langfuse request');
  try {
    // Our signal decides the timeout; the SDK's own (a second later) is only a backstop.
    return await request({ abortSignal: signal, timeoutInSeconds: options.timeoutMs / 1000 + 1, maxRetries });
  } catch (error) {
    options.logger?.debug({ subject: options.subject, request: what, err: error }, 'langfuse request failed');
    throw describeFailure(error, what, signal.aborted, options);
  }
}

function describeFailure(error: unknown, what: string, timedOut: boolean, options: LangfuseCallOptions): PromptAdminError {
  // The SDK's error classes live in @langfuse/core (not a direct dependency): read their shape.
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number') {
    const message = serverMessage((error as { body?: unknown }).body);
    if (status === 401) {
      return new PromptAdminError(
        `Langfuse rejected the keys (401): ${message.replace(/\.+$/, '')}. Check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY.`,
        status,
        message,
      );
    }
    if (status === 404) return new PromptAdminError(`not found (404): ${message}`, status, message);
    return new PromptAdminError(`Langfuse answered ${status} to ${what}: ${message}`, status, message);
  }
  if (timedOut || (error instanceof Error && /timeout/i.test(error.message))) {
    return new PromptAdminError(
      `Langfuse at ${options.baseUrl} did not answer (${what}) within ${options.timeoutMs} ms. Check LANGFUSE_BASE_URL and that Langfuse is running.`,
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new PromptAdminError(`cannot reach Langfuse at ${options.baseUrl} (${reason}). Check LANGFUSE_BASE_URL and that Langfuse is running.`);
}

/** The server's own explanation from an error body (`{message, error}`, zod issues, or text). */
export function serverMessage(body: unknown): string {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body && typeof body === 'object') {
    const b = body as { message?: unknown; error?: unknown };
    text = typeof b.message === 'string' ? b.message : JSON.stringify(body);
    if (Array.isArray(b.error)) {
      const issues = b.error.map((i: { message?: unknown; path?: unknown }) => `${Array.isArray(i.path) ? i.path.join('.') : ''}: ${String(i.message)}`);
      text += ` (${issues.join('; ')})`;
    }
  } else text = 'no message';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** The base URL without any userinfo, safe to print. */
export function publicUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return raw;
  }
}
