import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export interface NodeHttpFetchOptions {
  /** Idle keep-alive sockets are closed after this long (ms); undici's default is 4 s too. */
  idleSocketTimeoutMs?: number;
  /** Upper bound on sockets per origin (default: unbounded, like undici's fetch). */
  maxSockets?: number;
}

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

// (1xx never reaches the response event: informational answers are their own events, 101 is an upgrade.)
const NULL_BODY_STATUS = new Set([204, 205, 304]);

/**
 * A `fetch` for the OpenAI SDK built on node:http(s) with keep-alive agents. The global fetch
 * (undici) costs ~0.1 ms more CPU per model call on Node 24 (its WHATWG request/response
 * machinery; measured through ChatOpenAI against the local stand-in); the model call is the only
 * outbound request on the hot path.
 *
 * It covers what the SDK sends: a URL string, a method, a Headers object and a string or byte
 * body. Anything else (Request objects, streamed or form bodies) goes to the global fetch, so a
 * future SDK upload still works. Bodies are streamed back when they are server-sent events and
 * buffered otherwise; no content-encoding is requested, so there is nothing to decompress.
 */
export function createNodeHttpFetch(options: NodeHttpFetchOptions = {}): FetchFunction & { destroy(): void } {
  // An idle socket the server closes under us only costs one retried attempt (model-call.ts retries resets).
  const agentOptions = { keepAlive: true, timeout: options.idleSocketTimeoutMs ?? 4_000, maxSockets: options.maxSockets ?? Infinity };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = init.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (input instanceof Request || !plainBody) return fetch(input, init);
    const url = input instanceof URL ? input : new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fetch(input, init);

    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(abortReason(signal));

    return new Promise<Response>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const request = transport.request(url, {
        method: (init.method ?? 'GET').toUpperCase(),
        headers: requestHeaders(init.headers),
        agent: url.protocol === 'https:' ? httpsAgent : httpAgent,
      });
      let response: http.IncomingMessage | undefined;
      // Like fetch: a body being read when the signal aborts fails with the abort reason (not
      // node's `aborted` ECONNRESET), so a deadline mid-stream still reads as a timeout.
      const onAbort = () => {
        response?.destroy(abortReason(signal as AbortSignal));
        request.destroy(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = () => signal?.removeEventListener('abort', onAbort);

      request.on('error', (error) => {
        settled();
        // The same shape as undici's network errors, so callers classify it the same way.
        reject(signal?.aborted ? abortReason(signal) : new TypeError('fetch failed', { cause: error }));
      });
      request.on('response', (incoming) => {
        response = incoming;
        const status = incoming.statusCode ?? 0;
        const headers = new Headers();
        const raw = incoming.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
        const init = { status, statusText: incoming.statusMessage ?? '', headers };
        incoming.once('close', settled);
        if (NULL_BODY_STATUS.has(status) || request.method === 'HEAD') {
          incoming.resume();
          resolve(new Response(null, init));
        } else if (headers.get('content-type')?.startsWith('text/event-stream')) {
          resolve(status >= 200 && status < 300 ? eventStreamResponse(incoming, init) : new Response(Readable.toWeb(incoming) as ReadableStream<Uint8Array>, init));
        } else {
          // JSON answers are small: one buffer is cheaper than a web stream per chunk.
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () => resolve(new Response(Buffer.concat(chunks), init)));
          incoming.on('error', (error) => reject(signal?.aborted ? abortReason(signal) : new TypeError('fetch failed', { cause: error })));
        }
      });
      request.end(body ?? undefined);
    });
  };

  return Object.assign(nodeFetch, {
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  });
}

/**
 * A successful event stream whose `body` is the socket's Readable itself. The OpenAI SDK only
 * iterates a streamed body, and takes any async iterable for it (openai/internal/shims.mjs
 * `ReadableStreamToAsyncIterable`, `CancelReadableStream`); a WHATWG stream around the Readable
 * would add a pull, an enqueue and a read promise per server-sent event. The other body readers
 * consume the same Readable, so nothing reads an empty body by mistake.
 */
function eventStreamResponse(incoming: http.IncomingMessage, init: ResponseInit): Response {
  const response = new Response(null, init);
  const readAll = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  return Object.defineProperties(response, {
    body: { value: incoming },
    bodyUsed: { get: () => incoming.readableDidRead },
    arrayBuffer: { value: async () => new Uint8Array(await readAll()).buffer },
    bytes: { value: async () => new Uint8Array(await readAll()) },
    text: { value: async () => (await readAll()).toString('utf8') },
    json: { value: async () => JSON.parse((await readAll()).toString('utf8')) as unknown },
  });
}

function requestHeaders(init: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, name) => {
    // Identity responses only: no decompression to do on this side.
    if (name !== 'accept-encoding') out[name] = value;
  });
  return out;
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}
