/**
 * A counting OTLP/HTTP trace receiver for the benchmark, run as its own process.
 *
 * test/support/otlp-receiver.ts decodes every span into objects and keeps them all in memory, which
 * is right for tests but costs CPU (on a 2-core machine, CPU the server under test would otherwise
 * get) and grows without bound over a 100k-request soak. This sink only COUNTS spans: it walks the
 * protobuf wire format (ExportTraceServiceRequest → resource_spans(1) → scope_spans(2) → spans(2))
 * or the JSON encoding, without building span objects. The first few requests are cross-checked
 * against the test receiver's full decoder (`decodeTraceExport`) and mismatches are reported.
 *
 *   node --import tsx bench/otlp-sink.ts --port 4318 [--path /v1/traces]
 * prints `listening http://127.0.0.1:<port>`; `GET /stats` answers
 * `{requests, spans, bytes, rejected, crossChecked, crossCheckMismatches, metricExports}`.
 * OTLP metrics (`POST /v1/metrics`, the service pushes them every OTEL_METRIC_EXPORT_INTERVAL) are
 * accepted and only counted.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { decodeTraceExport } from '../test/support/otlp-receiver.js';
import { isDirectRun, parseCliArgs, runStandalone } from '../test/support/stand-in-util.js';

const CROSS_CHECK_REQUESTS = 5;

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos] as number;
    pos += 1;
    // lengths and tags fit in 2^53; multiply instead of << to stay exact past 2^31
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

/** Calls `onField(fieldNumber, start, end)` for each length-delimited field of a message; skips the rest. */
function forEachLenField(buf: Uint8Array, start: number, end: number, onField: (field: number, s: number, e: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = readVarint(buf, pos);
    pos = afterTag;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    switch (wire) {
      case 0:
        pos = readVarint(buf, pos)[1];
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const [len, afterLen] = readVarint(buf, pos);
        onField(field, afterLen, afterLen + len);
        pos = afterLen + len;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos !== end) throw new Error('message overruns its length');
}

export function countProtobufSpans(buf: Uint8Array): number {
  let spans = 0;
  forEachLenField(buf, 0, buf.length, (f1, s1, e1) => {
    if (f1 !== 1) return; // resource_spans
    forEachLenField(buf, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return; // scope_spans
      forEachLenField(buf, s2, e2, (f3) => {
        if (f3 === 2) spans += 1; // spans
      });
    });
  });
  return spans;
}

export function countJsonSpans(text: string): number {
  const body = JSON.parse(text) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
  let spans = 0;
  for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
  return spans;
}

export interface SinkStats {
  requests: number;
  spans: number;
  bytes: number;
  rejected: number;
  crossChecked: number;
  crossCheckMismatches: number;
  contentTypes: Record<string, number>;
  /** POST /v1/metrics requests accepted (not decoded). */
  metricExports: number;
}

export async function startOtlpSink(options: { port?: number; host?: string; path?: string } = {}) {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/v1/traces';
  const stats: SinkStats = { requests: 0, spans: 0, bytes: 0, rejected: 0, crossChecked: 0, crossCheckMismatches: 0, contentTypes: {}, metricExports: 0 };

  const server = http.createServer({ noDelay: true, requestTimeout: 0, keepAlive: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const url = req.url ?? '/';
      if (req.method === 'GET' && url.startsWith('/stats')) {
        const body = JSON.stringify(stats);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      if (req.method === 'POST' && url.split('?')[0] === '/v1/metrics') {
        stats.metricExports += 1;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
        res.end('{}');
        return;
      }
      if (req.method !== 'POST' || url.split('?')[0] !== path) {
        res.writeHead(404).end();
        return;
      }
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      stats.contentTypes[contentType] = (stats.contentTypes[contentType] ?? 0) + 1;
      try {
        let raw = Buffer.concat(chunks);
        stats.bytes += raw.length;
        const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
        if (encoding === 'gzip') raw = zlib.gunzipSync(raw);
        else if (encoding === 'deflate') raw = zlib.inflateSync(raw);
        const isJson = contentType === 'application/json';
        const n = isJson ? countJsonSpans(raw.toString('utf8')) : countProtobufSpans(raw);
        if (stats.crossChecked < CROSS_CHECK_REQUESTS) {
          stats.crossChecked += 1;
          if (decodeTraceExport(raw, contentType).length !== n) stats.crossCheckMismatches += 1;
        }
        stats.requests += 1;
        stats.spans += n;
        if (isJson) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
          res.end('{}');
        } else {
          res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
          res.end();
        }
      } catch (error) {
        stats.rejected += 1;
        const body = JSON.stringify({ code: 3, message: (error as Error).message });
        res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host, backlog: 4096 }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (isDirectRun(import.meta.url)) {
  const args = parseCliArgs(process.argv.slice(2));
  await runStandalone(() => startOtlpSink({ port: Number(args.get('port') ?? 0), host: args.get('host'), path: args.get('path') }));
}
