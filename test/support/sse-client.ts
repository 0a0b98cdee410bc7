import http from 'node:http';
import { createParser } from 'eventsource-parser';

/** One server-sent event with its JSON data parsed. */
export interface SseEvent {
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/** Parses a whole `text/event-stream` body (e.g. from `app.inject`). */
export function parseEventStream(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({ onEvent: (message) => events.push({ event: message.event ?? 'message', data: JSON.parse(message.data) }) });
  parser.feed(text);
  return events;
}

export interface LiveEventStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The raw response: pause() it to be a slow reader. */
  response: http.IncomingMessage;
  /** Every event received so far. */
  readonly received: SseEvent[];
  /** How many socket reads delivered the answer (events written together arrive in one). */
  readonly reads: number;
  /** The next event, or undefined when the stream ended. */
  next(): Promise<SseEvent | undefined>;
  /** Reads until the stream ends; returns every event. */
  all(): Promise<SseEvent[]>;
  /** The body as text when the answer was not an event stream (a JSON error). */
  text(): Promise<string>;
  /** Goes away mid-stream, as a closed browser tab does. */
  disconnect(): void;
}

/** POSTs `body` over node:http and reads the answer as events arrive (real sockets, real timing). */
export function postEventStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<LiveEventStream> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers } });
    request.on('error', reject);
    request.on('response', (response) => {
      const received: SseEvent[] = [];
      const queue: SseEvent[] = [];
      let ended = false;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      let raw = '';
      const parser = createParser({
        onEvent: (message) => {
          const event = { event: message.event ?? 'message', data: JSON.parse(message.data) };
          received.push(event);
          queue.push(event);
          wake?.();
        },
      });
      const isStream = String(response.headers['content-type'] ?? '').startsWith('text/event-stream');
      response.setEncoding('utf8');
      // Socket reads, not the parser's per-chunk `data` events (it emits one per HTTP chunk).
      let reads = 0;
      const countRead = () => (reads += 1);
      response.socket.on('data', countRead);
      response.once('close', () => response.socket?.off('data', countRead));
      response.on('data', (chunk: string) => (isStream ? parser.feed(chunk) : (raw += chunk)));
      const finish = (error?: Error) => {
        ended = true;
        failure ??= error;
        wake?.();
      };
      response.on('end', () => finish());
      response.on('error', (error) => finish(error));
      response.on('close', () => finish());
      const next = async (): Promise<SseEvent | undefined> => {
        while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        if (queue.length > 0) return queue.shift();
        if (failure) throw failure;
        return undefined;
      };
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        response,
        received,
        get reads() {
          return reads;
        },
        next,
        all: async () => {
          while ((await next()) !== undefined);
          return received;
        },
        text: async () => {
          while (!ended) await new Promise<void>((r) => (wake = r));
          return raw;
        },
        disconnect: () => request.destroy(),
      });
    });
    request.end(JSON.stringify(body));
  });
}
