/**
 * The streaming benchmark's client, in its own process (bench/streaming.ts starts it):
 * `node --import tsx bench/stream-client.ts --url <base> --mode stream|plain --concurrency N
 *  --requests M [--ramp-ms R]` runs M requests over N concurrent connections (their starts spread
 * over R ms) and prints one JSON line.
 *
 * `stream` POSTs /order-status/stream and reads the events as they arrive. The OpenAI stand-in
 * (started with --stamp-first-delta) writes, as the answer's first delta, the wall-clock time at
 * which it wrote it; the first `token` event therefore carries that time, and
 * "time to first token added by the service" = when this process parsed that event − that stamp.
 * Both clocks are `performance.timeOrigin + performance.now()` on the same machine.
 * `plain` POSTs /order-status (for CPU per request without streaming).
 */
import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { percentileSorted } from './lib/stats.js';

interface Options {
  url: string;
  mode: 'stream' | 'plain';
  concurrency: number;
  requests: number;
  /** Connections start spread over this long, so requests do not all arrive in one wave. */
  rampMs: number;
}

export interface StreamClientResult {
  mode: 'stream' | 'plain';
  concurrency: number;
  completed: number;
  errors: number;
  errorSamples: string[];
  elapsedSec: number;
  /** First token at the client − the stand-in's first-delta stamp (ms); stream mode only. */
  ttftAddedMs: { count: number; p50: number; p90: number; p99: number; max: number };
  /** Request sent → first token at the client (ms): what a user waits, model latency included. */
  ttftMs: { p50: number; p99: number };
  /** Request sent → last byte (ms). */
  totalMs: { p50: number; p99: number };
}

const now = () => performance.timeOrigin + performance.now();

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    const value = i >= 0 ? argv[i + 1] : undefined;
    if (value === undefined) throw new Error(`--${name} is required`);
    return value;
  };
  const mode = get('mode');
  if (mode !== 'stream' && mode !== 'plain') throw new Error('--mode stream|plain');
  const ramp = argv.indexOf('--ramp-ms');
  return { url: get('url'), mode, concurrency: Number(get('concurrency')), requests: Number(get('requests')), rampMs: ramp >= 0 ? Number(argv[ramp + 1]) : 0 };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function body(i: number): string {
  return JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: `usr_stream_bench_${i % 64}` });
}

interface One {
  ttftAdded?: number;
  ttft?: number;
  total: number;
}

function once(options: Options, i: number): Promise<One> {
  const path = options.mode === 'stream' ? '/order-status/stream' : '/order-status';
  return new Promise((resolve, reject) => {
    const sentAt = now();
    const request = http.request(`${options.url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } });
    request.on('error', reject);
    request.on('response', (response) => {
      let result: One | undefined;
      let failed: string | undefined;
      let lastEvent = '';
      const parser = createParser({
        onEvent: (event) => {
          lastEvent = event.event ?? '';
          if (event.event === 'token' && result === undefined) {
            const at = now();
            const stamp = Number((JSON.parse(event.data) as { text: string }).text.trim());
            result = { ttftAdded: Number.isFinite(stamp) ? at - stamp : undefined, ttft: at - sentAt, total: 0 };
          } else if (event.event === 'error') {
            failed = event.data;
          }
        },
      });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (options.mode === 'stream') parser.feed(chunk);
      });
      response.on('end', () => {
        if (response.statusCode !== 200) return reject(new Error(`HTTP ${response.statusCode}`));
        if (failed) return reject(new Error(`error event ${failed.slice(0, 200)}`));
        if (options.mode === 'stream' && lastEvent !== 'done') return reject(new Error(`stream ended after "${lastEvent}"`));
        resolve({ ...(result ?? {}), total: now() - sentAt });
      });
      response.on('error', reject);
    });
    request.end(body(i));
  });
}

async function run(options: Options): Promise<StreamClientResult> {
  const results: One[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let next = 0;
  const started = now();
  const workers = Math.min(options.concurrency, options.requests);
  const worker = async (w: number) => {
    if (options.rampMs > 0) await new Promise((r) => setTimeout(r, (w * options.rampMs) / workers));
    while (next < options.requests) {
      const i = next++;
      try {
        results.push(await once(options, i));
      } catch (error) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  const sorted = (values: (number | undefined)[]) => Float64Array.from(values.filter((v): v is number => v !== undefined)).sort();
  const added = sorted(results.map((r) => r.ttftAdded));
  const ttft = sorted(results.map((r) => r.ttft));
  const total = sorted(results.map((r) => r.total));
  return {
    mode: options.mode,
    concurrency: options.concurrency,
    completed: results.length,
    errors,
    errorSamples,
    elapsedSec: (now() - started) / 1000,
    ttftAddedMs: {
      count: added.length,
      p50: percentileSorted(added, 50),
      p90: percentileSorted(added, 90),
      p99: percentileSorted(added, 99),
      max: added.length ? (added[added.length - 1] as number) : Number.NaN,
    },
    ttftMs: { p50: percentileSorted(ttft, 50), p99: percentileSorted(ttft, 99) },
    totalMs: { p50: percentileSorted(total, 50), p99: percentileSorted(total, 99) },
  };
}

const result = await run(parseArgs(process.argv.slice(2)));
agent.destroy();
process.stdout.write(`${JSON.stringify(result)}\n`);
