/**
 * The load generator: autocannon in its OWN process (forked by bench/run.ts with an IPC channel),
 * so that its CPU never counts against the server under test. One run per `run` message; the
 * answer carries exact latency percentiles computed from every response time (autocannon's own
 * histogram has 1 ms resolution, too coarse for a bare Fastify route).
 */
import autocannon, { type AutocannonClient, type AutocannonRequest } from 'autocannon';
import { percentileSorted } from './lib/stats.js';

export interface LoadSpec {
  url: string;
  connections: number;
  /** Either a duration (seconds) or a fixed number of requests. */
  durationSec?: number;
  amount?: number;
  /** Per-request timeout in seconds. */
  timeoutSec: number;
  /** Request bodies; each connection cycles through them from a different offset. */
  bodies: string[];
  /** Also report how many responses took at least this long (ms). */
  slowThresholdMs?: number;
}

export interface LoadResult {
  completed: number;
  ok2xx: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  errorSamples: string[];
  elapsedSec: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
  /** Latency of responses on connections that already had one (no connection set-up in it). */
  warmLatencyMs: { count: number; p50: number; p99: number };
  /**
   * Completion rate between the `connections`-th and the (completed − connections)-th response:
   * leaves out the connection ramp at the start and the drain at the end of a fixed-amount run.
   * NaN when the run has fewer than 3 requests per connection.
   */
  steadyRps: number;
  slowResponses?: number;
}

function run(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json' };
    const requests: AutocannonRequest[] = spec.bodies.map((body) => ({ method: 'POST', headers, body }));
    let clientIndex = 0;
    let latencies = new Float64Array(1 << 16);
    let doneAt = new Float64Array(1 << 16);
    let warm = new Float64Array(1 << 16);
    let warmCount = 0;
    let count = 0;
    const seenClients = new WeakSet<object>();
    const statusCodes: Record<string, number> = {};
    const errorSamples: string[] = [];
    const started = process.hrtime.bigint();

    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers,
        requests: requests.slice(0, 1),
        connections: spec.connections,
        pipelining: 1,
        timeout: spec.timeoutSec,
        ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationSec ?? 10 }),
        // autocannon pre-builds every request of a client when it is set: give each connection only
        // its own share of the bodies (every `connections`-th), not all of them (16 connections x
        // 20,000 bodies made each run spend seconds building buffers before the first request)
        setupClient: (client: AutocannonClient) => {
          const k = clientIndex++ % spec.connections;
          const mine = requests.filter((_, j) => j % spec.connections === k);
          client.setRequests(mine.length > 0 ? mine : [requests[k % requests.length] as AutocannonRequest]);
        },
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9;
        const conns = spec.connections;
        const steadyRps =
          count >= 3 * conns ? (count - 2 * conns) / (((doneAt[count - conns - 1] as number) - (doneAt[conns - 1] as number)) / 1000) : Number.NaN;
        const warmSorted = warm.subarray(0, warmCount).sort();
        const sorted = latencies.subarray(0, count).sort();
        let sum = 0;
        let slow = 0;
        for (let i = 0; i < count; i += 1) {
          const v = sorted[i] as number;
          sum += v;
          if (spec.slowThresholdMs !== undefined && v >= spec.slowThresholdMs) slow += 1;
        }
        const ok2xx = result['2xx'];
        const completed = ok2xx + result.non2xx;
        resolve({
          completed,
          ok2xx,
          non2xx: result.non2xx,
          statusCodes,
          errors: result.errors,
          timeouts: result.timeouts,
          errorSamples,
          elapsedSec,
          rps: completed / elapsedSec,
          latencyMs: {
            mean: count > 0 ? sum / count : Number.NaN,
            p50: percentileSorted(sorted, 50),
            p90: percentileSorted(sorted, 90),
            p99: percentileSorted(sorted, 99),
            p999: percentileSorted(sorted, 99.9),
            max: count > 0 ? (sorted[count - 1] as number) : Number.NaN,
          },
          warmLatencyMs: { count: warmCount, p50: percentileSorted(warmSorted, 50), p99: percentileSorted(warmSorted, 99) },
          steadyRps,
          ...(spec.slowThresholdMs !== undefined ? { slowResponses: slow } : {}),
        });
      },
    );
    const grow = (a: Float64Array) => {
      const bigger = new Float64Array(a.length * 2);
      bigger.set(a);
      return bigger;
    };
    instance.on('response', (client: object, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (count === latencies.length) {
        latencies = grow(latencies);
        doneAt = grow(doneAt);
      }
      latencies[count] = responseTime;
      doneAt[count] = Number(process.hrtime.bigint() - started) / 1e6;
      count += 1;
      if (seenClients.has(client)) {
        if (warmCount === warm.length) warm = grow(warm);
        warm[warmCount] = responseTime;
        warmCount += 1;
      } else {
        seenClients.add(client);
      }
    });
    instance.on('reqError', (error: Error) => {
      if (errorSamples.length < 5) errorSamples.push(`${error.name}: ${error.message}`);
    });
  });
}

interface RunMessage {
  type: 'run';
  id: number;
  spec: LoadSpec;
}

if (!process.send) {
  process.stderr.write('bench/load-generator.ts is started by bench/run.ts (needs an IPC channel)\n');
  process.exit(2);
}

process.on('message', (message: RunMessage) => {
  if (message?.type !== 'run') return;
  run(message.spec).then(
    (result) => process.send?.({ type: 'result', id: message.id, result }),
    (error: unknown) => process.send?.({ type: 'error', id: message.id, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
