import type { Attributes, HrTime, Link } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * OTLP/protobuf encoding of span batches (`ExportTraceServiceRequest`), byte for byte what
 * @opentelemetry/otlp-transformer's ProtobufTraceSerializer writes (same fields, same order,
 * same grouping by resource and scope; test/otlp-protobuf.test.ts compares them on random and
 * real spans), in one pass instead of two and with attribute keys encoded once per process.
 * Export serialisation was the largest part of what tracing cost per request: this encoder
 * takes about half the CPU of the library's JSON one and a third of its protobuf one, and
 * protobuf is half the bytes of JSON on the wire.
 *
 * Wire format: https://github.com/open-telemetry/opentelemetry-proto (trace/v1/trace.proto,
 * common/v1/common.proto, resource/v1/resource.proto).
 */

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;
/** Attribute keys are code constants: a bounded cache of their encoded form. */
const KEY_CACHE_LIMIT = 2048;

const varintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/** otlp-transformer's hex digit decoding (non-hex characters included), so ids encode identically. */
function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return code - 55;
}
const HEX_VALUES = Int16Array.from({ length: 128 }, (_, code) => hexValue(code));
const hexDigit = (code: number): number => (code < 128 ? (HEX_VALUES[code] as number) : hexValue(code));

/** A growable buffer with protobuf primitives; reused across batches. */
class Writer {
  buf = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** A field key (tag) or any other value below 128: one byte. */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    // 64-bit two's complement, as protobuf encodes int64 (a negative int64 takes 10 bytes)
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 0x100000000) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 0x100000000) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 0x7f;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(low: number, high: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string (lone surrogates become U+FFFD, as with TextEncoder). */
  string(s: string): void {
    const length = s.length;
    this.ensure(5 + 3 * length);
    const buf = this.buf;
    const start = this.pos;
    let i = 0;
    if (length < 128) {
      // ASCII fast path: one length byte, one byte per character
      let p = start + 1;
      for (; i < length; i += 1) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[p++] = c;
      }
      if (i === length) {
        buf[start] = length;
        this.pos = p;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    const prefix = varintSize(bytes);
    buf.write(s, start + prefix, bytes, 'utf8');
    let v = bytes;
    let p = start;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p] = v;
    this.pos = start + prefix + bytes;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i += 1) buf[p++] = b[i] as number;
    this.pos = p;
  }

  /** A hex trace or span id as length-prefixed bytes. */
  hexId(hex: string): void {
    const n = hex.length >>> 1;
    this.varint(n);
    this.ensure(n);
    const buf = this.buf;
    for (let i = 0; i < 2 * n; i += 2) buf[this.pos++] = ((hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1))) & 0xff;
  }

  /** Starts a length-delimited field: reserves `reserve` bytes for its length. */
  begin(reserve: number): number {
    this.ensure(reserve);
    const at = this.pos;
    this.pos += reserve;
    return at;
  }

  /** Writes the length reserved by `begin`, moving the content when it needs more or fewer bytes. */
  end(at: number, reserve: number): void {
    const length = this.pos - at - reserve;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(at + size, at + reserve, this.pos);
      this.pos += size - reserve;
    }
    const buf = this.buf;
    let v = length;
    let p = at;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p] = v;
  }
}

/** `KeyValue.key` (field 1) of each attribute key, encoded once. */
const encodedKeys = new Map<string, Uint8Array>();
const scratch = new Writer();

function encodedKey(key: string): Uint8Array {
  let encoded = encodedKeys.get(key);
  if (encoded === undefined) {
    scratch.pos = 0;
    scratch.byte(0x0a);
    scratch.string(key);
    encoded = new Uint8Array(scratch.buf.subarray(0, scratch.pos));
    if (encodedKeys.size < KEY_CACHE_LIMIT) encodedKeys.set(key, encoded);
  }
  return encoded;
}

function keyField(w: Writer, key: string): void {
  w.raw(encodedKey(key));
}

/**
 * The common attribute, a short ASCII string, in one go: `tag, len, key, 0x12, len, 0x0a, len,
 * chars` with every length under 128 (one byte each). False (nothing written) when it is not one.
 */
function shortAsciiStringAttribute(w: Writer, tag: number, key: Uint8Array, value: string): boolean {
  const length = value.length;
  const kvLength = key.length + 4 + length;
  if (kvLength > 127) return false;
  w.ensure(kvLength + 2);
  const buf = w.buf;
  const start = w.pos;
  let p = start + 2 + key.length + 4;
  for (let i = 0; i < length; i += 1) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) return false;
    buf[p++] = c;
  }
  buf[start] = tag;
  buf[start + 1] = kvLength;
  p = start + 2;
  for (let i = 0; i < key.length; i += 1) buf[p++] = key[i] as number;
  buf[p++] = 0x12;
  buf[p++] = length + 2;
  buf[p++] = 0x0a;
  buf[p] = length;
  w.pos = start + 2 + kvLength;
  return true;
}

/** AnyValue: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7; nothing for null/undefined. */
function anyValue(w: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.byte(0x0a);
      w.string(value);
      return;
    case 'boolean':
      w.byte(0x10);
      w.byte(value ? 1 : 0);
      return;
    case 'number':
      // int64 when it is an integer in range (also beyond 2^53), like the library
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.byte(0x18);
        w.varint(value);
      } else {
        w.byte(0x21);
        w.double(value);
      }
      return;
    case 'object':
      break;
    default:
      return;
  }
  if (value instanceof Uint8Array) {
    w.byte(0x3a);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    w.byte(0x2a);
    const array = w.begin(1);
    for (const item of value as unknown[]) {
      w.byte(0x0a);
      const element = w.begin(1);
      anyValue(w, item);
      w.end(element, 1);
    }
    w.end(array, 1);
  } else if (value !== null) {
    w.byte(0x32);
    const list = w.begin(1);
    const object = value as Record<string, unknown>;
    for (const key in object) {
      if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
      w.byte(0x0a);
      const kv = w.begin(1);
      keyField(w, key);
      w.byte(0x12);
      const inner = w.begin(1);
      anyValue(w, object[key]);
      w.end(inner, 1);
      w.end(kv, 1);
    }
    w.end(list, 1);
  }
}

/** repeated KeyValue `attributes` as field `field`. */
function attributes(w: Writer, attrs: Attributes, field: number): void {
  const tag = (field << 3) | 2;
  const keys = Object.keys(attrs);
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i] as string;
    const value = attrs[key];
    const encoded = encodedKey(key);
    if (typeof value === 'string' && shortAsciiStringAttribute(w, tag, encoded, value)) continue;
    w.byte(tag);
    const kv = w.begin(1);
    w.raw(encoded);
    w.byte(0x12);
    const valueAt = w.begin(1);
    anyValue(w, value);
    w.end(valueAt, 1);
    w.end(kv, 1);
  }
}

/** HrTime as fixed64 nanoseconds, split into 32-bit halves without BigInt (exact, as in the library). */
function hrTime(w: Writer, time: HrTime): void {
  const [seconds, nanos] = time;
  const low16Nanos = (seconds & 0xffff) * 1_000_000_000;
  const highNanos = ((seconds / 0x10000) >>> 0) * 1_000_000_000;
  const low = (low16Nanos >>> 0) + (((highNanos & 0xffff) * 0x10000) >>> 0) + nanos;
  const high = Math.floor(low16Nanos / 0x100000000) + ((highNanos / 0x10000) >>> 0) + Math.floor(low / 0x100000000);
  w.fixed64(low >>> 0, high >>> 0);
}

const spanFlags = (traceFlags: number, isRemote: boolean | undefined): number => (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

function event(w: Writer, e: TimedEvent): void {
  w.byte(0x5a); // Span.events (11)
  const at = w.begin(1);
  w.byte(0x09);
  hrTime(w, e.time);
  w.byte(0x12);
  w.string(e.name);
  if (e.attributes) attributes(w, e.attributes, 3);
  w.byte(0x20);
  w.varint(e.droppedAttributesCount || 0);
  w.end(at, 1);
}

function link(w: Writer, l: Link & { droppedAttributesCount?: number }): void {
  w.byte(0x6a); // Span.links (13)
  const at = w.begin(1);
  w.byte(0x0a);
  w.hexId(l.context.traceId);
  w.byte(0x12);
  w.hexId(l.context.spanId);
  const traceState = l.context.traceState?.serialize();
  if (traceState) {
    w.byte(0x1a);
    w.string(traceState);
  }
  if (l.attributes) attributes(w, l.attributes, 4);
  w.byte(0x28);
  w.varint(l.droppedAttributesCount || 0);
  w.byte(0x35);
  w.fixed32(spanFlags(l.context.traceFlags, l.context.isRemote));
  w.end(at, 1);
}

function span(w: Writer, s: ReadableSpan): void {
  const ctx = s.spanContext();
  w.byte(0x12); // ScopeSpans.spans (2)
  const at = w.begin(2);
  w.byte(0x0a);
  w.hexId(ctx.traceId);
  w.byte(0x12);
  w.hexId(ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    w.byte(0x1a);
    w.string(traceState);
  }
  const parentSpanId = s.parentSpanContext?.spanId;
  if (parentSpanId) {
    w.byte(0x22);
    w.hexId(parentSpanId);
  }
  w.byte(0x2a);
  w.string(s.name);
  // SpanKind is offset by one: the API has no value for UNSPECIFIED
  const kind = s.kind == null ? 0 : s.kind + 1;
  if (kind !== 0) {
    w.byte(0x30);
    w.varint(kind);
  }
  w.byte(0x39);
  hrTime(w, s.startTime);
  w.byte(0x41);
  hrTime(w, s.endTime);
  if (s.attributes) attributes(w, s.attributes, 9);
  w.byte(0x50);
  w.varint(s.droppedAttributesCount);
  for (const e of s.events) event(w, e);
  w.byte(0x60);
  w.varint(s.droppedEventsCount);
  for (const l of s.links) link(w, l);
  w.byte(0x70);
  w.varint(s.droppedLinksCount);
  w.byte(0x7a); // status (15)
  const status = w.begin(1);
  if (s.status.message) {
    w.byte(0x12);
    w.string(s.status.message);
  }
  w.byte(0x18);
  w.varint(s.status.code);
  w.end(status, 1);
  w.byte(0x85); // flags (16), fixed32: a two-byte key
  w.byte(0x01);
  w.fixed32(spanFlags(ctx.traceFlags, s.parentSpanContext?.isRemote));
  w.end(at, 2);
}

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

function scopeSpans(w: Writer, scope: Scope, spans: readonly ReadableSpan[]): void {
  w.byte(0x12); // ResourceSpans.scope_spans (2)
  const at = w.begin(3);
  w.byte(0x0a); // scope (1)
  const scopeAt = w.begin(1);
  w.byte(0x0a);
  w.string(scope.name);
  if (scope.version) {
    w.byte(0x12);
    w.string(scope.version);
  }
  const scopeAttributes = (scope as { attributes?: Attributes }).attributes;
  if (scopeAttributes) attributes(w, scopeAttributes, 3);
  const dropped = (scope as { droppedAttributesCount?: number }).droppedAttributesCount;
  if (dropped) {
    w.byte(0x20);
    w.varint(dropped);
  }
  w.end(scopeAt, 1);
  for (const s of spans) span(w, s);
  if (scope.schemaUrl) {
    w.byte(0x1a);
    w.string(scope.schemaUrl);
  }
  w.end(at, 3);
}

function resourceSpans(w: Writer, resource: Resource, scopes: Map<Scope, ReadableSpan[]>): void {
  w.byte(0x0a); // ExportTraceServiceRequest.resource_spans (1)
  const at = w.begin(3);
  w.byte(0x0a); // resource (1)
  const resourceAt = w.begin(2);
  if (resource.attributes) attributes(w, resource.attributes, 1);
  w.byte(0x10); // dropped_attributes_count: 0, as the library writes it
  w.byte(0);
  w.end(resourceAt, 2);
  for (const spans of scopes.values()) scopeSpans(w, (spans[0] as ReadableSpan).instrumentationScope, spans);
  if (resource.schemaUrl) {
    w.byte(0x1a);
    w.string(resource.schemaUrl);
  }
  w.end(at, 3);
}

const writer = new Writer();

/** Encodes a batch of finished spans as an OTLP `ExportTraceServiceRequest` (a fresh copy the caller owns). */
export function encodeTraceExportRequest(spans: readonly ReadableSpan[]): Uint8Array {
  // grouped by resource, then scope, by identity and in first-seen order (as the library does)
  const byResource = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  for (const s of spans) {
    let scopes = byResource.get(s.resource);
    if (!scopes) byResource.set(s.resource, (scopes = new Map()));
    let list = scopes.get(s.instrumentationScope);
    if (!list) scopes.set(s.instrumentationScope, (list = []));
    list.push(s);
  }
  writer.pos = 0;
  for (const [resource, scopes] of byResource) resourceSpans(writer, resource, scopes);
  return new Uint8Array(writer.buf.subarray(0, writer.pos));
}

/** An otlp-exporter-base serializer: this encoder for requests, the library's decoder for responses. */
export const fastProtobufTraceSerializer: typeof ProtobufTraceSerializer = {
  serializeRequest: (spans) => encodeTraceExportRequest(spans),
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};
