/**
 * Local stand-in for the OpenAI HTTP API, good enough for the real `openai` SDK and
 * `@langchain/openai`'s ChatOpenAI (Responses API and Chat Completions).
 *
 *  - POST /v1/responses          non-streaming Response object, or `stream: true` SSE
 *                                (response.created … response.output_text.delta … response.completed)
 *  - POST /v1/chat/completions   non-streaming `chat.completion`, or `stream: true` SSE chunks ending
 *                                with `data: [DONE]` (usage chunk when stream_options.include_usage)
 *  - GET  /v1/models             tiny list (handy as a readiness probe)
 *
 * Built for load tests (thousands of concurrent requests): no per-request logging, recording can be
 * switched off (`record: false`), a single JSON.parse / JSON.stringify per request.
 *
 * Streaming (see the "Streaming" block below): events are written one by one, respecting the
 * socket's drain (a slow client holds the stand-in back, as it would a real provider);
 * `chunkDelayMs` spaces the text deltas out in time; `streamAborts` records each stream a client
 * closed before its end.
 *
 * Standalone: `node --import tsx test/support/openai-stand-in.ts --port 3200 [--latency-ms 50]
 *   [--chunk-delay-ms 20] [--stamp-first-delta] [--no-record] [--api-key k]
 *   [--answer grounded | --answer "any fixed text"] [--useless-for-system TEXT]` (openai-answer-modes.ts)
 * prints `listening http://127.0.0.1:3200` (base URL WITHOUT /v1) and runs until SIGTERM/SIGINT.
 */
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  closeServer,
  createStandInServer,
  isDirectRun,
  listen,
  parseCliArgs,
  readBody,
  runStandalone,
  sendFaultBody,
  sendJson,
} from './stand-in-util.js';
import { groundedAnswer, uselessFor } from './openai-answer-modes.js';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/** A queued / persistent fault. Status faults get an OpenAI-shaped error body unless `body` is given. */
export type OpenAIFault =
  | 'hang'
  | 'reset'
  | { status: number; headers?: Record<string, string> | undefined; body?: unknown }
  /** A stream that starts normally and loses its connection after this many text deltas. */
  | { cutStreamAfterDeltas: number };

export type OpenAIEndpoint = 'responses' | 'chat.completions';

export interface OpenAIRecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined if none / unparsable). */
  body: unknown;
  receivedAt: number;
}

export interface OpenAIStandInOptions {
  /** Default 0 (ephemeral). */
  port?: number | undefined;
  /** Default 127.0.0.1. */
  host?: string | undefined;
  /** Delay before answering (time to first byte for streams). Default 0. */
  latencyMs?: number | undefined;
  /** Record request bodies + headers in `requests`. Default true; use false for load tests. */
  record?: boolean | undefined;
  /** When set, `Authorization: Bearer <apiKey>` is required (401 otherwise). */
  apiKey?: string | undefined;
  /** Answer text; default `stand-in answer (<n> messages)`. */
  answer?: ((body: Record<string, unknown>, endpoint: OpenAIEndpoint) => string) | undefined;
  /** Streams: pause between text deltas (ms). Default 0 (back to back). */
  chunkDelayMs?: number | undefined;
  /**
   * Streams: the first delta's text is the wall-clock time it was written
   * (`performance.timeOrigin + performance.now()`, ms with 3 decimals, then a space), so a client
   * in another process can measure what lies between this write and its own first token.
   */
  stampFirstDelta?: boolean | undefined;
}

/** A stream a client closed before the stand-in had written all of it. */
export interface OpenAIStreamAbort {
  path: string;
  model: unknown;
  /** Date.now() when the connection closed. */
  closedAt: number;
  deltasSent: number;
  deltasTotal: number;
}

/** A stream being written right now. */
export interface OpenAIActiveStream {
  path: string;
  deltasSent: number;
  deltasTotal: number;
  /** True while the stand-in waits for the client to read (socket buffer full). */
  waitingForDrain: boolean;
}

export interface OpenAIStandInStats {
  /** Requests received since start / last clearRequests(), recorded or not. */
  total: number;
  inFlight: number;
  maxInFlight: number;
}

export interface OpenAIStandIn {
  /** e.g. http://127.0.0.1:43123 (no /v1). */
  readonly url: string;
  /** url + '/v1' — pass as `configuration.baseURL` / OpenAI `baseURL`. */
  readonly baseURL: string;
  readonly port: number;
  /** Recorded requests (empty when `record: false`). */
  readonly requests: OpenAIRecordedRequest[];
  stats(): OpenAIStandInStats;
  setLatencyMs(ms: number): void;
  setChunkDelayMs(ms: number): void;
  setRecord(on: boolean): void;
  /** Streams clients closed early, in order (cleared by clearRequests). */
  readonly streamAborts: OpenAIStreamAbort[];
  /** Streams being written at this moment. */
  activeStreams(): OpenAIActiveStream[];
  /** FIFO: each queued fault is consumed by exactly one subsequent /v1 request. */
  queueFault(fault: OpenAIFault): void;
  /** Persistent fault for every /v1 request until set to null (queued faults take precedence). */
  setFault(fault: OpenAIFault | null): void;
  /** Drop queued faults and the persistent one; hung requests are destroyed. */
  clearFaults(): void;
  clearRequests(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function errorBody(message: string, type: string, code: string | null = null, param: string | null = null): ErrorBody {
  return { error: { message, type, param, code } };
}

function defaultFaultBody(status: number): ErrorBody {
  switch (status) {
    case 400:
      return errorBody('Invalid request (stand-in fault).', 'invalid_request_error');
    case 401:
      return errorBody('Incorrect API key provided (stand-in fault).', 'invalid_request_error', 'invalid_api_key');
    case 403:
      return errorBody('You are not allowed to sample from this model (stand-in fault).', 'invalid_request_error', 'unsupported_country_region_territory');
    case 404:
      return errorBody('The model does not exist or you do not have access to it (stand-in fault).', 'invalid_request_error', 'model_not_found');
    case 429:
      return errorBody(
        'Rate limit reached for gpt-4o-mini in organization org-stand-in on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.',
        'requests',
        'rate_limit_exceeded',
      );
    case 503:
      return errorBody('The server is overloaded or not ready yet.', 'server_error');
    default:
      return status >= 500
        ? errorBody('The server had an error while processing your request. Sorry about that!', 'server_error')
        : errorBody(`Stand-in fault with status ${status}.`, 'invalid_request_error');
  }
}

/** One streamed event; `delta` marks the text deltas (spaced by chunkDelayMs). */
interface SseEvent {
  text: string;
  delta: boolean;
  waited?: boolean;
}

const STAMP = /^\d+\.\d{3} /;
/** Written into the planned first delta; replaced by the wall-clock time when it is written. */
const STAMP_PLACEHOLDER = '0000000000000.000 ';

function stampDelta(eventText: string): string {
  return eventText.replace(STAMP_PLACEHOLDER, `${(performance.timeOrigin + performance.now()).toFixed(3)} `);
}

/** The wall-clock time (ms) the stand-in wrote a stamped first delta, or undefined. */
export function firstDeltaStamp(text: string): number | undefined {
  return STAMP.test(text) ? Number(text.slice(0, text.indexOf(' '))) : undefined;
}

function countMessages(body: Record<string, unknown>, endpoint: OpenAIEndpoint): number {
  if (endpoint === 'chat.completions') return Array.isArray(body.messages) ? body.messages.length : 0;
  const input = body.input;
  if (Array.isArray(input)) return input.length;
  return typeof input === 'string' ? 1 : 0;
}

const defaultAnswer = (body: Record<string, unknown>, endpoint: OpenAIEndpoint): string =>
  `stand-in answer (${countMessages(body, endpoint)} messages)`;

/** Split text into streaming deltas, keeping whitespace attached to the following word. */
function toDeltas(text: string): string[] {
  const parts = text.match(/\s*\S+/g);
  return parts && parts.length > 0 ? parts : [text];
}

const estimateTokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

export async function startOpenAIStandIn(options: OpenAIStandInOptions = {}): Promise<OpenAIStandIn> {
  const host = options.host ?? '127.0.0.1';
  let latencyMs = options.latencyMs ?? 0;
  let record = options.record ?? true;
  const answerFn = options.answer ?? defaultAnswer;
  const apiKey = options.apiKey;
  const requests: OpenAIRecordedRequest[] = [];
  const faultQueue: OpenAIFault[] = [];
  let persistentFault: OpenAIFault | null = null;
  const hung = new Set<http.ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const stats: OpenAIStandInStats = { total: 0, inFlight: 0, maxInFlight: 0 };
  let chunkDelayMs = options.chunkDelayMs ?? 0;
  const stampFirstDelta = options.stampFirstDelta ?? false;
  const streamAborts: OpenAIStreamAbort[] = [];
  const active = new Set<OpenAIActiveStream>();
  const streamCuts = new WeakMap<http.ServerResponse, number>();
  const idPrefix = randomBytes(4).toString('hex');
  let seq = 0;
  const nextId = (): string => idPrefix + (++seq).toString(16).padStart(12, '0');

  const later = (res: http.ServerResponse, fn: () => void): void => {
    if (latencyMs <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed) fn();
    }, latencyMs);
    timers.add(t);
  };

  const commonHeaders = (): Record<string, string> => ({
    'x-request-id': 'req_' + nextId(),
    'openai-version': '2020-10-01',
    'openai-processing-ms': String(latencyMs),
    'openai-organization': 'stand-in',
  });

  // ----- /v1/responses -----
  const responseObject = (
    body: Record<string, unknown>,
    id: string,
    msgId: string,
    createdAt: number,
    text: string,
    inputTokens: number,
    status: 'in_progress' | 'completed',
  ): Record<string, unknown> => {
    const outputTokens = estimateTokens(text.length);
    const completed = status === 'completed';
    return {
      id,
      object: 'response',
      created_at: createdAt,
      status,
      background: false,
      completed_at: completed ? Math.floor(Date.now() / 1000) : null,
      error: null,
      incomplete_details: null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: null,
      model: body.model,
      output: completed
        ? [
            {
              id: msgId,
              type: 'message',
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
            },
          ]
        : [],
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: body.previous_response_id ?? null,
      prompt_cache_key: body.prompt_cache_key ?? null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      service_tier: completed ? 'default' : 'auto',
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      top_logprobs: 0,
      top_p: body.top_p ?? 1,
      truncation: 'disabled',
      usage: completed
        ? {
            input_tokens: inputTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: outputTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: inputTokens + outputTokens,
          }
        : null,
      user: null,
      metadata: body.metadata ?? {},
    };
  };

  const handleResponses = (res: http.ServerResponse, body: Record<string, unknown>, rawLen: number): void => {
    const text = answerFn(body, 'responses');
    const id = 'resp_' + nextId();
    const msgId = 'msg_' + nextId();
    const createdAt = Math.floor(Date.now() / 1000);
    const inputTokens = estimateTokens(rawLen);
    if (body.stream !== true) {
      sendJson(res, 200, responseObject(body, id, msgId, createdAt, text, inputTokens, 'completed'), commonHeaders());
      return;
    }
    let n = 0;
    const events: SseEvent[] = [];
    const ev = (type: string, data: Record<string, unknown>): void => {
      events.push({ text: `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...data })}\n\n`, delta: type === 'response.output_text.delta' });
    };
    const inProgress = responseObject(body, id, msgId, createdAt, text, inputTokens, 'in_progress');
    ev('response.created', { response: inProgress });
    ev('response.in_progress', { response: inProgress });
    ev('response.output_item.added', {
      output_index: 0,
      item: { id: msgId, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
    });
    ev('response.content_part.added', {
      item_id: msgId,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
    });
    for (const delta of streamDeltas(text)) {
      ev('response.output_text.delta', { item_id: msgId, output_index: 0, content_index: 0, delta, logprobs: [] });
    }
    ev('response.output_text.done', { item_id: msgId, output_index: 0, content_index: 0, text, logprobs: [] });
    ev('response.content_part.done', {
      item_id: msgId,
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', annotations: [], logprobs: [], text },
    });
    ev('response.output_item.done', {
      output_index: 0,
      item: {
        id: msgId,
        type: 'message',
        status: 'completed',
        content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
        role: 'assistant',
      },
    });
    ev('response.completed', { response: responseObject(body, id, msgId, createdAt, text, inputTokens, 'completed') });
    sendSse(res, '/v1/responses', body.model, events);
  };

  // ----- /v1/chat/completions -----
  const handleChat = (res: http.ServerResponse, body: Record<string, unknown>, rawLen: number): void => {
    const text = answerFn(body, 'chat.completions');
    const id = 'chatcmpl-' + nextId();
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = estimateTokens(rawLen);
    const completionTokens = estimateTokens(text.length);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    if (body.stream !== true) {
      sendJson(
        res,
        200,
        {
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: text, refusal: null, annotations: [] },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage,
          service_tier: 'default',
          system_fingerprint: 'fp_stand_in',
        },
        commonHeaders(),
      );
      return;
    }
    const so = body.stream_options;
    const includeUsage = typeof so === 'object' && so !== null && (so as Record<string, unknown>).include_usage === true;
    const base = { id, object: 'chat.completion.chunk', created, model: body.model, service_tier: 'default', system_fingerprint: 'fp_stand_in' };
    const chunks: SseEvent[] = [];
    const chunk = (choices: unknown[], extra?: Record<string, unknown>, delta = false): void => {
      const c: Record<string, unknown> = { ...base, choices };
      if (includeUsage) c.usage = null;
      if (extra) Object.assign(c, extra);
      chunks.push({ text: `data: ${JSON.stringify(c)}\n\n`, delta });
    };
    chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]);
    for (const delta of streamDeltas(text)) {
      chunk([{ index: 0, delta: { content: delta }, logprobs: null, finish_reason: null }], undefined, true);
    }
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    if (includeUsage) chunk([], { usage });
    chunks.push({ text: 'data: [DONE]\n\n', delta: false });
    sendSse(res, '/v1/chat/completions', body.model, chunks);
  };

  // ----- Streaming: deltas spaced by chunkDelayMs, drain respected, early closes recorded -----
  const streamDeltas = (text: string): string[] => {
    const deltas = toDeltas(text);
    if (stampFirstDelta) deltas.unshift(STAMP_PLACEHOLDER);
    return deltas;
  };

  const sendSse = (res: http.ServerResponse, path: string, model: unknown, events: SseEvent[]): void => {
    if (res.destroyed) return;
    const headers = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...commonHeaders() };
    const deltasTotal = events.filter((e) => e.delta).length;
    const cutAfter = streamCuts.get(res);
    const stream: OpenAIActiveStream = { path, deltasSent: 0, deltasTotal, waitingForDrain: false };
    active.add(stream);
    res.on('close', () => {
      active.delete(stream);
      if (!res.writableFinished) streamAborts.push({ path, model, closedAt: Date.now(), deltasSent: stream.deltasSent, deltasTotal });
    });
    res.writeHead(200, headers);
    let i = 0;
    const writeNext = (): void => {
      while (i < events.length && !res.destroyed) {
        const event = events[i] as SseEvent;
        if (event.delta && stream.deltasSent > 0 && chunkDelayMs > 0 && !event.waited) {
          event.waited = true;
          const t = setTimeout(() => {
            timers.delete(t);
            writeNext();
          }, chunkDelayMs);
          timers.add(t);
          return;
        }
        if (event.delta && cutAfter !== undefined && stream.deltasSent >= cutAfter) {
          res.socket?.destroy();
          return;
        }
        i += 1;
        // The stamp is taken at the moment of writing, not when the answer was planned.
        const text = stampFirstDelta && event.delta && stream.deltasSent === 0 ? stampDelta(event.text) : event.text;
        if (event.delta) stream.deltasSent += 1;
        if (i === events.length) {
          res.end(text);
          return;
        }
        if (!res.write(text)) {
          stream.waitingForDrain = true;
          res.once('drain', () => {
            stream.waitingForDrain = false;
            writeNext();
          });
          return;
        }
      }
    };
    writeNext();
  };

  const applyFault = (req: http.IncomingMessage, res: http.ServerResponse, f: Exclude<OpenAIFault, { cutStreamAfterDeltas: number }>): void => {
    if (f === 'reset') {
      req.socket.destroy();
    } else if (f === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
    } else {
      const headers = { ...commonHeaders(), ...(f.headers ?? {}) };
      sendFaultBody(res, f.status, f.body ?? defaultFaultBody(f.status), headers);
    }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    stats.total++;
    stats.inFlight++;
    if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
    res.on('close', () => {
      stats.inFlight--;
    });
    readBody(req).then(
      (raw) => {
        const q = (req.url ?? '/').indexOf('?');
        const path = q >= 0 ? (req.url as string).slice(0, q) : (req.url ?? '/');
        const method = req.method ?? 'GET';
        let body: unknown;
        let parseFailed = false;
        if (raw.length > 0) {
          try {
            body = JSON.parse(raw.toString('utf8'));
          } catch {
            parseFailed = true;
          }
        }
        if (record) requests.push({ method, path, headers: req.headers, body, receivedAt: Date.now() });

        const fault = faultQueue.length > 0 ? (faultQueue.shift() as OpenAIFault) : persistentFault;
        if (fault !== null && typeof fault === 'object' && 'cutStreamAfterDeltas' in fault) {
          streamCuts.set(res, fault.cutStreamAfterDeltas);
        } else if (fault !== null && path.startsWith('/v1/')) {
          applyFault(req, res, fault);
          return;
        }
        later(res, () => route(req, res, method, path, body, parseFailed, raw.length));
      },
      () => res.destroy(),
    );
  };

  const route = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    method: string,
    path: string,
    body: unknown,
    parseFailed: boolean,
    rawLen: number,
  ): void => {
    if (apiKey !== undefined) {
      const auth = req.headers.authorization;
      if (!auth) {
        sendJson(
          res,
          401,
          errorBody(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            'invalid_request_error',
          ),
          commonHeaders(),
        );
        return;
      }
      if (auth !== `Bearer ${apiKey}`) {
        const given = auth.replace(/^Bearer\s+/i, '');
        const redacted = given.length > 8 ? `${given.slice(0, 3)}*****${given.slice(-4)}` : '*****';
        sendJson(
          res,
          401,
          errorBody(
            `Incorrect API key provided: ${redacted}. You can find your API key at https://platform.openai.com/account/api-keys.`,
            'invalid_request_error',
            'invalid_api_key',
          ),
          commonHeaders(),
        );
        return;
      }
    }
    if (method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] }, commonHeaders());
      return;
    }
    const endpoint: OpenAIEndpoint | undefined =
      path === '/v1/responses' ? 'responses' : path === '/v1/chat/completions' ? 'chat.completions' : undefined;
    if (endpoint === undefined || method !== 'POST') {
      sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error'), commonHeaders());
      return;
    }
    if (parseFailed || typeof body !== 'object' || body === null || Array.isArray(body)) {
      sendJson(
        res,
        400,
        errorBody(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
          'invalid_request_error',
        ),
        commonHeaders(),
      );
      return;
    }
    const b = body as Record<string, unknown>;
    if (typeof b.model !== 'string' || b.model === '') {
      sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error'), commonHeaders());
      return;
    }
    if (endpoint === 'responses') {
      if (b.input === undefined) {
        sendJson(res, 400, errorBody("Missing required parameter: 'input'.", 'invalid_request_error', 'missing_required_parameter', 'input'), commonHeaders());
        return;
      }
      handleResponses(res, b, rawLen);
    } else {
      if (!Array.isArray(b.messages)) {
        sendJson(res, 400, errorBody("Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter', 'messages'), commonHeaders());
        return;
      }
      handleChat(res, b, rawLen);
    }
  };

  const server = createStandInServer(handler);
  const port = await listen(server, options.port ?? 0, host);
  const url = `http://${host}:${port}`;

  return {
    url,
    baseURL: url + '/v1',
    port,
    requests,
    stats: () => ({ ...stats }),
    setLatencyMs(ms: number): void {
      latencyMs = ms;
    },
    setChunkDelayMs(ms: number): void {
      chunkDelayMs = ms;
    },
    streamAborts,
    activeStreams: () => [...active].map((stream) => ({ ...stream })),
    setRecord(on: boolean): void {
      record = on;
    },
    queueFault(fault: OpenAIFault): void {
      faultQueue.push(fault);
    },
    setFault(fault: OpenAIFault | null): void {
      persistentFault = fault;
    },
    clearFaults(): void {
      faultQueue.length = 0;
      persistentFault = null;
      for (const r of hung) r.destroy();
      hung.clear();
    },
    clearRequests(): void {
      requests.length = 0;
      streamAborts.length = 0;
      stats.total = 0;
      stats.maxInFlight = stats.inFlight;
    },
    async close(): Promise<void> {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of hung) r.destroy();
      hung.clear();
      await closeServer(server);
    },
  };
}

// ---------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------

if (isDirectRun(import.meta.url)) {
  const args = parseCliArgs(process.argv.slice(2));
  await runStandalone(() =>
    startOpenAIStandIn({
      port: Number(args.get('port') ?? 0),
      host: args.get('host'),
      latencyMs: Number(args.get('latency-ms') ?? 0),
      chunkDelayMs: Number(args.get('chunk-delay-ms') ?? 0),
      stampFirstDelta: args.flag('stamp-first-delta') ?? false,
      record: args.flag('record') ?? true,
      apiKey: args.get('api-key'),
      // `--answer grounded`: answers from the prompt's order state; `--answer <text>`: always that text;
      // `--useless-for-system TEXT`: a useless answer whenever the system message contains TEXT
      // (one prompt version), grounded otherwise.
      ...(args.get('useless-for-system') !== undefined
        ? { answer: uselessFor(args.get('useless-for-system') as string) }
        : args.get('answer') === 'grounded'
          ? { answer: groundedAnswer }
          : args.get('answer') !== undefined
            ? { answer: () => args.get('answer') as string }
            : {}),
    }),
  );
}
