/**
 * OTLP/HTTP trace receiver for tests; can also play Langfuse's `/api/public/otel/v1/traces`.
 *
 * Accepts `application/json` and `application/x-protobuf` (also `application/protobuf`), optionally
 * `content-encoding: gzip` (or deflate). Protobuf `ExportTraceServiceRequest` is decoded with a small
 * built-in wire-format reader (no dependency: @opentelemetry/otlp-transformer 0.223 only ships an
 * encoder, and protobufjs is only a transitive dependency of the gRPC exporters). 64-bit values are
 * read as BigInt, so nanosecond timestamps keep full precision.
 *
 * Everything is normalised to `ReceivedSpan` with hex ids and an `attributeTypes` map that tells which
 * OTLP AnyValue variant carried each attribute (intValue vs stringValue, …).
 *
 * Standalone: `node --import tsx test/support/otlp-receiver.ts --port 4318 [--path /v1/traces]
 *   [--langfuse] [--basic-auth user:pass] [--require-header name=value] [--print-spans]`
 * prints `listening http://127.0.0.1:4318` (base URL, without the path) and runs until SIGTERM/SIGINT.
 * `--langfuse` = path /api/public/otel/v1/traces + required `x-langfuse-ingestion-version: 4`.
 */
import type http from 'node:http';
import zlib from 'node:zlib';
import {
  closeServer,
  createStandInServer,
  isDirectRun,
  listen,
  parseCliArgs,
  readBody,
  runStandalone,
  sendJson,
} from './stand-in-util.js';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type OtlpAttributeType = 'string' | 'int' | 'double' | 'bool' | 'array' | 'kvlist' | 'bytes';

export interface ReceivedEvent {
  name: string;
  timeUnixNano: string;
  attributes: Record<string, unknown>;
  attributeTypes: Record<string, OtlpAttributeType>;
}

export interface ReceivedLink {
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  /** int → number (or decimal string beyond 2^53), double → number, bool, string, array → unknown[],
   *  kvlist → Record<string, unknown>, bytes → Uint8Array. */
  attributes: Record<string, unknown>;
  attributeTypes: Record<string, OtlpAttributeType>;
  events: ReceivedEvent[];
  /** Span links (to other traces' spans). */
  links: ReceivedLink[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Record<string, unknown>;
  /** Instrumentation scope name. */
  scope: string;
  scopeVersion?: string;
  traceState?: string;
}

export interface OtlpRequestRecord {
  method: string;
  path: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  contentType?: string;
  contentEncoding?: string;
  spanCount: number;
  /** Why the request was rejected (decode error, auth, …). */
  error?: string;
  receivedAt: number;
}

export interface OtlpFailOptions {
  /** Sent as `Retry-After` (the OTel exporters honour it; "0" → retry immediately). */
  retryAfter?: string | undefined;
}

export interface OtlpReceiverOptions {
  /** Default 0 (ephemeral). */
  port?: number | undefined;
  /** Default 127.0.0.1. */
  host?: string | undefined;
  /** Default '/v1/traces'; Langfuse: '/api/public/otel/v1/traces'. */
  path?: string | undefined;
  /** Require HTTP Basic auth (401 otherwise). */
  basicAuth?: { user: string; pass: string } | undefined;
  /** Headers that must be present with exactly this value (400 otherwise). Names are case-insensitive. */
  requiredHeaders?: Record<string, string> | undefined;
  /** Called for every accepted span (e.g. for printing). */
  onSpan?: ((span: ReceivedSpan) => void) | undefined;
  /**
   * Also accept OTLP metrics here (JSON bodies kept in `metricExports`; never failed, never in
   * `requests`). Default '/v1/metrics' when `path` is the Collector's '/v1/traces', else off.
   */
  metricsPath?: string | null | undefined;
}

export interface OtlpReceiver {
  /** Base URL without path, e.g. http://127.0.0.1:43123 */
  readonly url: string;
  /** Full trace endpoint (url + path) — pass as OTLPTraceExporter `url`. */
  readonly endpoint: string;
  readonly port: number;
  readonly path: string;
  readonly spans: ReceivedSpan[];
  readonly requests: OtlpRequestRecord[];
  /** Answer every export with this status (no spans stored) until null. */
  setFailing(status: number | null, opts?: OtlpFailOptions): void;
  /** Answer the next `n` exports with `status` (no spans stored). */
  failNext(n: number, status: number, opts?: OtlpFailOptions): void;
  /** Poll until predicate(spans) is true; resolves with the spans. Default timeout 5000 ms. */
  waitForSpans(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** OTLP/JSON metric export bodies received on `metricsPath` (ExportMetricsServiceRequest). */
  readonly metricExports: OtlpMetricExport[];
  /** Clear spans, requests and failure modes. */
  reset(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Protobuf wire reader (only what opentelemetry/proto/trace/v1 needs)
// ---------------------------------------------------------------------------

class PbReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Varint as number (for tags, lengths, enums, bools, small ints). */
  uint32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++] as number;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new Error('protobuf: varint too long');
    }
    return result;
  }

  /** Varint as unsigned 64-bit BigInt. */
  uint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint too long');
    }
    return result;
  }

  fixed64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  bytes(): Uint8Array {
    const len = this.uint32();
    this.need(len);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }

  /** Sub-reader over a length-delimited field. */
  sub(): PbReader {
    const len = this.uint32();
    this.need(len);
    const r = new PbReader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uint64();
        return;
      case 1:
        this.need(8);
        this.pos += 8;
        return;
      case 2: {
        const len = this.uint32();
        this.need(len);
        this.pos += len;
        return;
      }
      case 5:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
  }

  /** Iterate fields: cb(fieldNumber, wireType); cb must consume or return false to skip. */
  fields(cb: (field: number, wireType: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.uint32();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 0) throw new Error('protobuf: invalid field number 0');
      if (!cb(field, wt)) this.skip(wt);
    }
    if (this.pos !== this.end) throw new Error('protobuf: message overran its length');
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('protobuf: truncated message');
  }
}

interface TypedValue {
  value: unknown;
  type: OtlpAttributeType | undefined;
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function int64ToJs(u: bigint): number | string {
  const s = BigInt.asIntN(64, u);
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s.toString();
}

function pbAnyValue(r: PbReader): TypedValue {
  let out: TypedValue = { value: undefined, type: undefined };
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) out = { value: r.string(), type: 'string' };
    else if (f === 2 && wt === 0) out = { value: r.uint32() !== 0, type: 'bool' };
    else if (f === 3 && wt === 0) out = { value: int64ToJs(r.uint64()), type: 'int' };
    else if (f === 4 && wt === 1) out = { value: r.double(), type: 'double' };
    else if (f === 5 && wt === 2) {
      const values: unknown[] = [];
      const sub = r.sub();
      sub.fields((f2, wt2) => {
        if (f2 === 1 && wt2 === 2) {
          values.push(pbAnyValue(sub.sub()).value);
          return true;
        }
        return false;
      });
      out = { value: values, type: 'array' };
    } else if (f === 6 && wt === 2) {
      const obj: Record<string, unknown> = {};
      const sub = r.sub();
      sub.fields((f2, wt2) => {
        if (f2 === 1 && wt2 === 2) {
          const kv = pbKeyValue(sub.sub());
          obj[kv.key] = kv.value;
          return true;
        }
        return false;
      });
      out = { value: obj, type: 'kvlist' };
    } else if (f === 7 && wt === 2) out = { value: new Uint8Array(r.bytes()), type: 'bytes' };
    else return false;
    return true;
  });
  return out;
}

function pbKeyValue(r: PbReader): { key: string; value: unknown; type: OtlpAttributeType | undefined } {
  let key = '';
  let tv: TypedValue = { value: undefined, type: undefined };
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) key = r.string();
    else if (f === 2 && wt === 2) tv = pbAnyValue(r.sub());
    else return false;
    return true;
  });
  return { key, value: tv.value, type: tv.type };
}

interface AttrBag {
  attributes: Record<string, unknown>;
  attributeTypes: Record<string, OtlpAttributeType>;
}

function addAttr(bag: AttrBag, key: string, value: unknown, type: OtlpAttributeType | undefined): void {
  bag.attributes[key] = value;
  if (type) bag.attributeTypes[key] = type;
}

function decodeProtobufRequest(buf: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  const root = new PbReader(buf);
  root.fields((f, wt) => {
    if (f !== 1 || wt !== 2) return false;
    // ResourceSpans
    const rs = root.sub();
    const resource: Record<string, unknown> = {};
    const scopeSpansReaders: PbReader[] = [];
    rs.fields((f2, wt2) => {
      if (f2 === 1 && wt2 === 2) {
        const res = rs.sub();
        res.fields((f3, wt3) => {
          if (f3 === 1 && wt3 === 2) {
            const kv = pbKeyValue(res.sub());
            resource[kv.key] = kv.value;
            return true;
          }
          return false;
        });
        return true;
      }
      if (f2 === 2 && wt2 === 2) {
        scopeSpansReaders.push(rs.sub());
        return true;
      }
      return false;
    });
    for (const ss of scopeSpansReaders) {
      let scope = '';
      let scopeVersion: string | undefined;
      const spanReaders: PbReader[] = [];
      ss.fields((f3, wt3) => {
        if (f3 === 1 && wt3 === 2) {
          const sc = ss.sub();
          sc.fields((f4, wt4) => {
            if (f4 === 1 && wt4 === 2) scope = sc.string();
            else if (f4 === 2 && wt4 === 2) scopeVersion = sc.string();
            else return false;
            return true;
          });
          return true;
        }
        if (f3 === 2 && wt3 === 2) {
          spanReaders.push(ss.sub());
          return true;
        }
        return false;
      });
      for (const sr of spanReaders) {
        const span = pbSpan(sr, resource, scope);
        if (scopeVersion !== undefined) span.scopeVersion = scopeVersion;
        spans.push(span);
      }
    }
    return true;
  });
  return spans;
}

function pbSpan(r: PbReader, resource: Record<string, unknown>, scope: string): ReceivedSpan {
  const span: ReceivedSpan = {
    traceId: '',
    spanId: '',
    name: '',
    kind: 0,
    startTimeUnixNano: '0',
    endTimeUnixNano: '0',
    attributes: {},
    attributeTypes: {},
    events: [],
    links: [],
    status: { code: 0 },
    resource,
    scope,
  };
  r.fields((f, wt) => {
    switch (f) {
      case 1:
        if (wt !== 2) return false;
        span.traceId = toHex(r.bytes());
        return true;
      case 2:
        if (wt !== 2) return false;
        span.spanId = toHex(r.bytes());
        return true;
      case 3:
        if (wt !== 2) return false;
        span.traceState = r.string();
        if (span.traceState === '') delete span.traceState;
        return true;
      case 4: {
        if (wt !== 2) return false;
        const p = r.bytes();
        if (p.length > 0) span.parentSpanId = toHex(p);
        return true;
      }
      case 5:
        if (wt !== 2) return false;
        span.name = r.string();
        return true;
      case 6:
        if (wt !== 0) return false;
        span.kind = r.uint32();
        return true;
      case 7:
        if (wt !== 1) return false;
        span.startTimeUnixNano = r.fixed64().toString();
        return true;
      case 8:
        if (wt !== 1) return false;
        span.endTimeUnixNano = r.fixed64().toString();
        return true;
      case 9: {
        if (wt !== 2) return false;
        const kv = pbKeyValue(r.sub());
        addAttr(span, kv.key, kv.value, kv.type);
        return true;
      }
      case 11: {
        if (wt !== 2) return false;
        const ev = r.sub();
        const event: ReceivedEvent = { name: '', timeUnixNano: '0', attributes: {}, attributeTypes: {} };
        ev.fields((f2, wt2) => {
          if (f2 === 1 && wt2 === 1) event.timeUnixNano = ev.fixed64().toString();
          else if (f2 === 2 && wt2 === 2) event.name = ev.string();
          else if (f2 === 3 && wt2 === 2) {
            const kv = pbKeyValue(ev.sub());
            addAttr(event, kv.key, kv.value, kv.type);
          } else return false;
          return true;
        });
        span.events.push(event);
        return true;
      }
      case 13: {
        if (wt !== 2) return false;
        const lr = r.sub();
        const link: ReceivedLink & { attributeTypes: Record<string, OtlpAttributeType> } = { traceId: '', spanId: '', attributes: {}, attributeTypes: {} };
        lr.fields((f2, wt2) => {
          if (f2 === 1 && wt2 === 2) link.traceId = toHex(lr.bytes());
          else if (f2 === 2 && wt2 === 2) link.spanId = toHex(lr.bytes());
          else if (f2 === 4 && wt2 === 2) {
            const kv = pbKeyValue(lr.sub());
            addAttr(link, kv.key, kv.value, kv.type);
          } else return false;
          return true;
        });
        span.links.push({ traceId: link.traceId, spanId: link.spanId, attributes: link.attributes });
        return true;
      }
      case 15: {
        if (wt !== 2) return false;
        const st = r.sub();
        const status: { code: number; message?: string } = { code: 0 };
        st.fields((f2, wt2) => {
          if (f2 === 2 && wt2 === 2) {
            const m = st.string();
            if (m !== '') status.message = m;
          } else if (f2 === 3 && wt2 === 0) status.code = st.uint32();
          else return false;
          return true;
        });
        span.status = status;
        return true;
      }
      default:
        return false;
    }
  });
  return span;
}

// ---------------------------------------------------------------------------
// OTLP/JSON
// ---------------------------------------------------------------------------

type Json = Record<string, unknown>;

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

/** Field by lowerCamelCase name, falling back to the proto snake_case name (both are valid OTLP/JSON). */
function fld(o: unknown, camel: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  const obj = o as Json;
  return camel in obj ? obj[camel] : obj[snake(camel)];
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/** OTLP/JSON ids are hex; tolerate base64 (older/other encoders). */
function jsonId(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  return Buffer.from(v, 'base64').toString('hex');
}

function jsonInt(v: unknown): number | string {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return int64ToJs(BigInt.asUintN(64, BigInt(v)));
  throw new Error(`OTLP/JSON: invalid intValue ${JSON.stringify(v)}`);
}

function jsonDouble(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string') return Number(v);
  throw new Error(`OTLP/JSON: invalid doubleValue ${JSON.stringify(v)}`);
}

function jsonAnyValue(v: unknown): TypedValue {
  if (typeof v !== 'object' || v === null) return { value: undefined, type: undefined };
  let x: unknown;
  if ((x = fld(v, 'stringValue')) !== undefined) return { value: str(x), type: 'string' };
  if ((x = fld(v, 'boolValue')) !== undefined) return { value: x === true || x === 'true', type: 'bool' };
  if ((x = fld(v, 'intValue')) !== undefined) return { value: jsonInt(x), type: 'int' };
  if ((x = fld(v, 'doubleValue')) !== undefined) return { value: jsonDouble(x), type: 'double' };
  if ((x = fld(v, 'arrayValue')) !== undefined) return { value: arr(fld(x, 'values')).map((e) => jsonAnyValue(e).value), type: 'array' };
  if ((x = fld(v, 'kvlistValue')) !== undefined) {
    const obj: Record<string, unknown> = {};
    for (const kv of arr(fld(x, 'values'))) obj[str(fld(kv, 'key'))] = jsonAnyValue(fld(kv, 'value')).value;
    return { value: obj, type: 'kvlist' };
  }
  if ((x = fld(v, 'bytesValue')) !== undefined) return { value: new Uint8Array(Buffer.from(str(x), 'base64')), type: 'bytes' };
  return { value: undefined, type: undefined };
}

function jsonAttrs(list: unknown, bag: AttrBag): void {
  for (const kv of arr(list)) {
    const tv = jsonAnyValue(fld(kv, 'value'));
    addAttr(bag, str(fld(kv, 'key')), tv.value, tv.type);
  }
}

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function jsonEnum(v: unknown, names: Record<string, number>): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return names[v] ?? (Number(v) || 0);
  return 0;
}

function decodeJsonRequest(text: string): ReceivedSpan[] {
  const root: unknown = JSON.parse(text);
  if (typeof root !== 'object' || root === null || Array.isArray(root)) throw new Error('OTLP/JSON: body is not an object');
  const spans: ReceivedSpan[] = [];
  for (const rs of arr(fld(root, 'resourceSpans'))) {
    const resBag: AttrBag = { attributes: {}, attributeTypes: {} };
    jsonAttrs(fld(fld(rs, 'resource'), 'attributes'), resBag);
    const scopeSpans = [...arr(fld(rs, 'scopeSpans')), ...arr(fld(rs, 'instrumentationLibrarySpans'))];
    for (const ss of scopeSpans) {
      const scopeObj = fld(ss, 'scope') ?? fld(ss, 'instrumentationLibrary');
      const scope = str(fld(scopeObj, 'name'));
      const scopeVersion = fld(scopeObj, 'version');
      for (const s of arr(fld(ss, 'spans'))) {
        const span: ReceivedSpan = {
          traceId: jsonId(fld(s, 'traceId')),
          spanId: jsonId(fld(s, 'spanId')),
          name: str(fld(s, 'name')),
          kind: jsonEnum(fld(s, 'kind'), SPAN_KINDS),
          startTimeUnixNano: str(fld(s, 'startTimeUnixNano') ?? '0'),
          endTimeUnixNano: str(fld(s, 'endTimeUnixNano') ?? '0'),
          attributes: {},
          attributeTypes: {},
          events: [],
          links: [],
          status: { code: 0 },
          resource: resBag.attributes,
          scope,
        };
        const parent = jsonId(fld(s, 'parentSpanId'));
        if (parent !== '') span.parentSpanId = parent;
        const ts = fld(s, 'traceState');
        if (typeof ts === 'string' && ts !== '') span.traceState = ts;
        if (typeof scopeVersion === 'string' && scopeVersion !== '') span.scopeVersion = scopeVersion;
        jsonAttrs(fld(s, 'attributes'), span);
        for (const e of arr(fld(s, 'events'))) {
          const ev: ReceivedEvent = {
            name: str(fld(e, 'name')),
            timeUnixNano: str(fld(e, 'timeUnixNano') ?? '0'),
            attributes: {},
            attributeTypes: {},
          };
          jsonAttrs(fld(e, 'attributes'), ev);
          span.events.push(ev);
        }
        for (const l of arr(fld(s, 'links'))) {
          const bag: AttrBag = { attributes: {}, attributeTypes: {} };
          jsonAttrs(fld(l, 'attributes'), bag);
          span.links.push({ traceId: jsonId(fld(l, 'traceId')), spanId: jsonId(fld(l, 'spanId')), attributes: bag.attributes });
        }
        const st = fld(s, 'status');
        if (st !== undefined) {
          span.status = { code: jsonEnum(fld(st, 'code'), STATUS_CODES) };
          const m = fld(st, 'message');
          if (typeof m === 'string' && m !== '') span.status.message = m;
        }
        spans.push(span);
      }
    }
  }
  return spans;
}

/** Decode an OTLP/HTTP trace export body (already decompressed). Exported for unit tests. */
export function decodeTraceExport(body: Uint8Array, contentType: string): ReceivedSpan[] {
  const ct = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (ct === 'application/json') return decodeJsonRequest(Buffer.from(body).toString('utf8'));
  if (ct === 'application/x-protobuf' || ct === 'application/protobuf') return decodeProtobufRequest(body);
  throw new UnsupportedMediaType(contentType);
}

class UnsupportedMediaType extends Error {
  constructor(ct: string) {
    super(`unsupported content-type ${JSON.stringify(ct)}`);
  }
}

// ---------------------------------------------------------------------------
// Metrics (OTLP/JSON ExportMetricsServiceRequest, kept as JSON: enough for the tests)
// ---------------------------------------------------------------------------

export interface OtlpMetricExport {
  resourceMetrics: {
    resource?: { attributes?: { key: string; value: Record<string, unknown> }[] };
    scopeMetrics?: { scope?: { name?: string }; metrics?: { name: string; unit?: string; [kind: string]: unknown }[] }[];
  }[];
}

/** Reads one metrics export (JSON, optionally gzip) and answers like a Collector. */
function receiveMetrics(req: http.IncomingMessage, res: http.ServerResponse, into: OtlpMetricExport[]): void {
  readBody(req).then(
    (raw) => {
      try {
        const body = String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip' ? zlib.gunzipSync(raw) : raw;
        if (!/json/i.test(req.headers['content-type'] ?? '')) throw new UnsupportedMediaType(String(req.headers['content-type']));
        into.push(JSON.parse(body.toString('utf8')) as OtlpMetricExport);
        sendJson(res, 200, {});
      } catch (err) {
        sendJson(res, err instanceof UnsupportedMediaType ? 415 : 400, { code: 3, message: (err as Error).message });
      }
    },
    () => res.destroy(),
  );
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/v1/traces';
  const metricsPath = options.metricsPath === undefined ? (path === '/v1/traces' ? '/v1/metrics' : undefined) : (options.metricsPath ?? undefined);
  const metricExports: OtlpMetricExport[] = [];
  const spans: ReceivedSpan[] = [];
  const requests: OtlpRequestRecord[] = [];
  let failing: { status: number; retryAfter?: string | undefined } | null = null;
  let failNextCount = 0;
  let failNextStatus = 503;
  let failNextOpts: OtlpFailOptions = {};
  const expectedAuth = options.basicAuth
    ? 'Basic ' + Buffer.from(`${options.basicAuth.user}:${options.basicAuth.pass}`).toString('base64')
    : undefined;
  const required = Object.entries(options.requiredHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const reqPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    if (metricsPath !== undefined && reqPath === metricsPath && req.method === 'POST') return receiveMetrics(req, res, metricExports);
    const contentType = req.headers['content-type'];
    const contentEncoding = req.headers['content-encoding'];
    const rec: OtlpRequestRecord = {
      method: req.method ?? 'GET',
      path: reqPath,
      status: 0,
      headers: req.headers,
      spanCount: 0,
      receivedAt: Date.now(),
    };
    if (contentType !== undefined) rec.contentType = contentType;
    if (contentEncoding !== undefined) rec.contentEncoding = contentEncoding;
    requests.push(rec);
    const isProto = /protobuf/i.test(contentType ?? '');
    const reply = (status: number, body: unknown, error?: string, headers?: Record<string, string>): void => {
      rec.status = status;
      if (error !== undefined) rec.error = error;
      if (status === 200 && isProto) {
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
        res.end();
        return;
      }
      sendJson(res, status, body, headers);
    };

    readBody(req).then(
      (raw) => {
        if (reqPath !== path) return reply(404, { code: 5, message: `no route for ${reqPath}` }, 'not found');
        if (rec.method !== 'POST') return reply(405, { code: 12, message: 'method not allowed' }, 'method not allowed');

        let fail: { status: number; retryAfter?: string | undefined } | null = null;
        if (failNextCount > 0) {
          failNextCount--;
          fail = { status: failNextStatus, retryAfter: failNextOpts.retryAfter };
        } else if (failing) fail = failing;
        if (fail) {
          const h: Record<string, string> = {};
          if (fail.retryAfter !== undefined) h['retry-after'] = fail.retryAfter;
          return reply(fail.status, { code: 14, message: `stand-in failing with ${fail.status}` }, `failing ${fail.status}`, h);
        }

        if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
          return reply(
            401,
            {
              message: req.headers.authorization
                ? "Invalid credentials. Confirm that you've configured the correct host."
                : 'No authorization header',
              error: 'UnauthorizedError',
            },
            'unauthorized',
          );
        }
        for (const [name, value] of required) {
          const got = req.headers[name];
          if (got !== value) {
            return reply(
              400,
              { message: got === undefined ? `Missing required header: ${name}` : `Invalid header ${name}: ${String(got)}`, error: 'InvalidRequestError' },
              `header ${name}`,
            );
          }
        }

        let body: Buffer = raw;
        const enc = (contentEncoding ?? '').toLowerCase();
        try {
          if (enc === 'gzip') body = zlib.gunzipSync(raw);
          else if (enc === 'deflate') body = zlib.inflateSync(raw);
          else if (enc !== '' && enc !== 'identity') return reply(415, { code: 3, message: `unsupported content-encoding ${enc}` }, `encoding ${enc}`);
        } catch (err) {
          return reply(400, { code: 3, message: `cannot decompress: ${(err as Error).message}` }, 'bad compression');
        }

        let decoded: ReceivedSpan[];
        try {
          decoded = decodeTraceExport(body, contentType ?? '');
        } catch (err) {
          const status = err instanceof UnsupportedMediaType ? 415 : 400;
          return reply(status, { code: 3, message: (err as Error).message }, (err as Error).message);
        }
        rec.spanCount = decoded.length;
        for (const s of decoded) {
          spans.push(s);
          options.onSpan?.(s);
        }
        return reply(200, {});
      },
      () => res.destroy(),
    );
  };

  const server = createStandInServer(handler);
  const port = await listen(server, options.port ?? 0, host);
  const url = `http://${host}:${port}`;

  return {
    url,
    endpoint: url + path,
    port,
    path,
    spans,
    requests,
    metricExports,
    setFailing(status: number | null, opts: OtlpFailOptions = {}): void {
      failing = status === null ? null : { status, retryAfter: opts.retryAfter };
    },
    failNext(n: number, status: number, opts: OtlpFailOptions = {}): void {
      failNextCount = n;
      failNextStatus = status;
      failNextOpts = opts;
    },
    waitForSpans(predicate: (s: readonly ReceivedSpan[]) => boolean, timeoutMs = 5000): Promise<ReceivedSpan[]> {
      const deadline = Date.now() + timeoutMs;
      return new Promise<ReceivedSpan[]>((resolve, reject) => {
        const tick = (): void => {
          let ok: boolean;
          try {
            ok = predicate(spans);
          } catch {
            ok = false;
          }
          if (ok) {
            resolve([...spans]);
            return;
          }
          if (Date.now() >= deadline) {
            const names = spans.map((s) => s.name);
            const statuses = requests.map((r) => r.status).join(',');
            reject(
              new Error(
                `waitForSpans: predicate not satisfied after ${timeoutMs} ms; ${spans.length} span(s) received: ` +
                  `[${names.join(', ')}]; ${requests.length} request(s) with statuses [${statuses}] at ${url + path}`,
              ),
            );
            return;
          }
          setTimeout(tick, 10);
        };
        tick();
      });
    },
    reset(): void {
      spans.length = 0;
      requests.length = 0;
      metricExports.length = 0;
      failing = null;
      failNextCount = 0;
    },
    close: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------

if (isDirectRun(import.meta.url)) {
  const args = parseCliArgs(process.argv.slice(2));
  const langfuse = args.flag('langfuse') === true;
  const requiredHeaders: Record<string, string> = langfuse ? { 'x-langfuse-ingestion-version': '4' } : {};
  for (const h of args.all('require-header')) {
    const i = h.indexOf('=');
    if (i > 0) requiredHeaders[h.slice(0, i)] = h.slice(i + 1);
  }
  const ba = args.get('basic-auth');
  const sep = ba?.indexOf(':') ?? -1;
  const print = args.flag('print-spans') === true;
  await runStandalone(() =>
    startOtlpReceiver({
      port: Number(args.get('port') ?? 0),
      host: args.get('host'),
      path: args.get('path') ?? (langfuse ? '/api/public/otel/v1/traces' : undefined),
      basicAuth: ba && sep > 0 ? { user: ba.slice(0, sep), pass: ba.slice(sep + 1) } : undefined,
      requiredHeaders,
      onSpan: print
        ? (s): void => {
            process.stdout.write(JSON.stringify(s, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)) + '\n');
          }
        : undefined,
    }),
  );
}
