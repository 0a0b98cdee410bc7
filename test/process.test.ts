import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';
import { postEventStream } from './support/sse-client.js';

/** The real server process: signals, draining, and a Collector that is down. */
let openai: OpenAIStandIn;
let otlp: OtlpReceiver;
let server: ServerProcess | undefined;

beforeAll(async () => {
  openai = await startOpenAIStandIn({ apiKey: 'sk-proc', record: false });
  otlp = await startOtlpReceiver();
});
afterAll(async () => Promise.all([openai.close(), otlp.close()]));
afterEach(async () => {
  await server?.stop();
  server = undefined;
  openai.setLatencyMs(0);
  otlp.reset();
});

const env = (extra: Record<string, string> = {}) => ({
  OPENAI_API_KEY: 'sk-proc',
  OPENAI_BASE_URL: openai.baseURL,
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  ...extra,
});

const logLines = (s: ServerProcess, msg: string) => s.logs().filter((l) => l.includes(msg));

describe('SIGTERM / SIGINT', () => {
  it('finishes the in-flight request, refuses new work, flushes its spans and exits 0', async () => {
    server = await startServerProcess(env());
    openai.setLatencyMs(1_500);
    const inFlight = postOrderStatus(server.url, 'usr_draining');
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const late = await postOrderStatus(server.url).then((r) => r.status, () => 'refused');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).toBe('close');
    const { trace_id: traceId } = (await response.json()) as { trace_id: string };
    expect(['refused', 503]).toContain(late);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // Flushed before exit: the drained request's whole trace is at the receiver.
    expect(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.name)).toContain('openai.responses.create');
  });

  it('exits at once on a second signal sent deliberately, more than a second after the first', async () => {
    server = await startServerProcess(env());
    openai.setLatencyMs(10_000);
    void postOrderStatus(server.url).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_200));
    const second = Date.now();
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(1);
    expect(Date.now() - second).toBeLessThan(1_000);
  });
});

/**
 * The README's command under a process-group signal (systemd's KillMode=control-group, Ctrl-C in a
 * terminal): the server gets the signal from the group AND from npm forwarding it a moment later.
 */
describe.each(['SIGTERM', 'SIGINT'] as const)('`npm start`, %s to the whole process group', (signal) => {
  it('drains: every in-flight request answers 200, spans reach the receiver, exit 0', async () => {
    server = await startServerProcess(env(), { viaNpmStart: true });
    openai.setLatencyMs(800);
    const inFlight = [postOrderStatus(server.url, 'usr_group_1'), postOrderStatus(server.url, 'usr_group_2')];
    await new Promise((r) => setTimeout(r, 300));
    process.kill(-(server.child.pid as number), signal);
    const responses = await Promise.all(inFlight);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const traceIds = await Promise.all(responses.map(async (r) => ((await r.json()) as { trace_id: string }).trace_id));
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const traceId of traceIds) {
      expect(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.name)).toContain('openai.responses.create');
    }
    expect(logLines(server, 'draining')).toHaveLength(1);
    expect(logLines(server, 'second signal')).toHaveLength(0);
  });
});

describe('a stream in flight at SIGTERM', () => {
  it('streams to its end (done), then the connection closes and the process exits 0 at once', async () => {
    server = await startServerProcess(env(), { viaNpmStart: true });
    openai.setChunkDelayMs(60);
    try {
      const client = await postEventStream(`${server.url}/order-status/stream`, { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: 'usr_drain_stream' });
      while ((await client.next())?.event !== 'token');
      const signalledAt = Date.now();
      process.kill(-(server.child.pid as number), 'SIGTERM');
      const events = await client.all();
      expect(events.at(-1)?.event).toBe('done');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      // Not held open until the keep-alive timeout or the drain deadline.
      expect(Date.now() - signalledAt).toBeLessThan(5_000);
      expect(logLines(server, 'drain deadline')).toHaveLength(0);
    } finally {
      openai.setChunkDelayMs(0);
    }
  });
});

/** A Collector that accepts connections and never answers: the worst case for an exporter. */
async function blackhole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('Collector down', () => {
  it('not running at all: Ctrl-C on `npm start` exits 0 at once instead of waiting out export retries', async () => {
    server = await startServerProcess(env({ OTEL_EXPORTER_OTLP_ENDPOINT: await closedPortUrl() }), { viaNpmStart: true });
    for (let i = 0; i < 3; i += 1) expect((await postOrderStatus(server.url, `usr_nocollector${i}`)).status).toBe(200);
    const signalledAt = Date.now();
    process.kill(-(server.child.pid as number), 'SIGINT');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // The exporters' back-off retries alone take ~8 s against a refused connection.
    expect(Date.now() - signalledAt).toBeLessThan(2_500);
    expect(logLines(server, 'Collector unreachable at shutdown')).toHaveLength(1);
    const summary = JSON.parse(logLines(server, 'telemetry stopped')[0] ?? '{}') as Record<string, number>;
    expect(summary).toMatchObject({ endedSpans: 36, exportedSpans: 0 });
  });

  it('answering 503: requests keep their latency, the outage is logged once', async () => {
    otlp.setFailing(503);
    server = await startServerProcess(env({ OTEL_BSP_EXPORT_TIMEOUT: '500' }));
    const latencies: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      const t = performance.now();
      expect((await postOrderStatus(server.url, `usr_c${i}`)).status).toBe(200);
      latencies.push(performance.now() - t);
    }
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length * 0.9)]).toBeLessThan(250);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(logLines(server, 'span export failing')).toHaveLength(1);
    const summary = JSON.parse(logLines(server, 'telemetry stopped')[0] ?? '{}') as { failedSpans?: number; exportedSpans?: number };
    expect(summary.exportedSpans).toBe(0);
    expect(summary.failedSpans).toBeGreaterThan(0);
  });

  it('hanging: requests are unaffected, the queue stays bounded and drops are counted, not logged per span', async () => {
    const hole = await blackhole();
    try {
      server = await startServerProcess(
        env({ OTEL_EXPORTER_OTLP_ENDPOINT: hole.url, OTEL_BSP_MAX_QUEUE_SIZE: '64', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '32', OTEL_BSP_EXPORT_TIMEOUT: '400' }),
      );
      const started = performance.now();
      for (let i = 0; i < 60; i += 1) expect((await postOrderStatus(server.url, `usr_h${i}`)).status).toBe(200);
      expect((performance.now() - started) / 60).toBeLessThan(100);
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
      const summary = JSON.parse(logLines(server, 'telemetry stopped')[0] ?? '{}') as Record<string, number>;
      // Every span is accounted for: 60 runs x 12 spans, none exported through the hole.
      expect(summary).toMatchObject({ endedSpans: 720, exportedSpans: 0 });
      expect(summary['droppedSpans']).toBeGreaterThan(0);
      expect((summary['droppedSpans'] ?? 0) + (summary['failedSpans'] ?? 0)).toBe(720);
      // An overflow episode is one line at most (the batch processor reports it only when room frees up).
      expect(logLines(server, 'Dropped').length).toBeLessThanOrEqual(1);
    } finally {
      await hole.close();
    }
  });
});
