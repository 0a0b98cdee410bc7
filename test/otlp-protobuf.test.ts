/**
 * Our OTLP/protobuf encoder (src/telemetry/otlp-protobuf.ts) against the library it replaces:
 * for random span batches of every shape the SDK can produce (and several it cannot), the bytes
 * must equal @opentelemetry/otlp-transformer's ProtobufTraceSerializer output exactly, and an
 * independent decoder (test/support/otlp-receiver.ts) must read back every value with its type.
 * Then the real service's spans, and the exporter over HTTP (retries included).
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PromptSource } from '../src/prompts/prompt-source.js';
import { LocalPromptSource } from '../src/prompts/local-prompt-source.js';
import { createTraceExporter } from '../src/telemetry/otlp-exporter.js';
import { encodeTraceExportRequest } from '../src/telemetry/otlp-protobuf.js';
import { build, testSettings } from './support/build.js';
import { decodeTraceExport, startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { testTracing } from './support/telemetry.js';

const library = (spans: ReadableSpan[]) => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
const ours = (spans: ReadableSpan[]) => Buffer.from(encodeTraceExportRequest(spans));
const decode = (bytes: Uint8Array) => decodeTraceExport(bytes, 'application/x-protobuf');

// ---------------------------------------------------------------------------
// Arbitraries: ReadableSpan-shaped objects covering the whole OTLP span message
// ---------------------------------------------------------------------------

const validHex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const anyHex = (bytes: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex')) },
    // upper-case and non-hex characters decode as the library decodes them
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFxyz-'), minLength: 2 * bytes, maxLength: 2 * bytes }) },
  );
/** Code units around every UTF-8 boundary: ASCII, Latin-1, 2- and 3-byte, astral pairs, lone surrogates (→ U+FFFD). */
const mixedUnit = fc.constantFrom('a', 'Z', '~', '\u007f', '\u0080', 'é', 'ÿ', '\u07ff', '\u0800', '中', '\uffff', '😀', '\ud800', '\udfff');
/** Any UTF-16 text, with lengths that cross the one-byte length prefix (127/128). */
const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: mixedUnit, maxLength }),
    fc.integer({ min: 100, max: 140 }).map((n) => 'x'.repeat(n)),
  );
const key = fc.oneof(fc.constantFrom('langfuse.session.id', 'gen_ai.usage.input_tokens', 'app.workflow.updated_fields', 'a'), text(40));
const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, 1, -1, 127, 128, 2 ** 31, 2 ** 32, 2 ** 32 - 1, -(2 ** 31), 2 ** 53, -(2 ** 53), 2 ** 62, 2 ** 63, -(2 ** 63), 2 ** 64, 1e21, NaN, Infinity, -Infinity, 0.5, -1.25),
  fc.double(),
);
const primitive = fc.oneof(text(60), number, fc.boolean());
/** What span attributes hold (primitives and homogeneous arrays), plus what only the encoders handle. */
const attributeValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null), fc.constant(undefined)), { maxLength: 5 }),
    fc.array(number, { maxLength: 5 }),
    fc.array(fc.boolean(), { maxLength: 5 }),
    fc.uint8Array({ maxLength: 20 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text(10), tie('value'), { maxKeys: 3 }),
    // only own properties are encoded (defined, not assigned: assigning an own "__proto__" key
    // would replace the prototype, e.g. with a Uint8Array, which no attribute can be)
    fc.dictionary(text(10), tie('value'), { maxKeys: 2 }).map((own) => {
      const value = Object.create({ inherited: 'not encoded' }) as object;
      for (const [k, v] of Object.entries(own)) Object.defineProperty(value, k, { value: v, enumerable: true, writable: true, configurable: true });
      return value;
    }),
    fc.constant(undefined),
  ),
})).value;
const attributes = fc.dictionary(key, attributeValue, { maxKeys: 12 }) as fc.Arbitrary<Attributes>;
const hrTime: fc.Arbitrary<HrTime> = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.constantFrom(1_764_000_000, 18_446_744_073)), fc.integer({ min: 0, max: 999_999_999 }));
const traceState = fc.option(fc.constantFrom('vendor=value', 'a=1,b=2', 'rojo=00f067aa0ba902b7'), { nil: undefined }).map((s) => (s ? new TraceState(s) : undefined));
const spanContextWith = (hex: (bytes: number) => fc.Arbitrary<string>): fc.Arbitrary<SpanContext> => fc.record({
  traceId: hex(16),
  spanId: hex(8),
  traceFlags: fc.constantFrom(TraceFlags.SAMPLED, TraceFlags.NONE, 0xff),
  isRemote: fc.option(fc.boolean(), { nil: undefined }),
  traceState,
});
const spanContext = spanContextWith(anyHex);
const event: fc.Arbitrary<TimedEvent> = fc.record({
  name: text(30),
  time: hrTime,
  attributes: fc.option(attributes, { nil: undefined }),
  droppedAttributesCount: fc.option(fc.nat(1000), { nil: undefined }),
}) as fc.Arbitrary<TimedEvent>;
const link = fc.record({ context: spanContext, attributes: fc.option(attributes, { nil: undefined }), droppedAttributesCount: fc.option(fc.nat(1000), { nil: undefined }) }) as fc.Arbitrary<Link>;

const resources = [
  resourceFromAttributes({ 'service.name': 'order-support-agent', 'service.version': '0.1.0', 'deployment.environment.name': 'test' }),
  resourceFromAttributes({ 'service.name': 'other', 'host.cores': 2 }, { schemaUrl: 'https://opentelemetry.io/schemas/1.28.0' }),
];
const scopes = [
  { name: 'order-status-agent', version: '0.1.0' },
  { name: 'empty-version', version: '' },
  { name: '@fastify/otel', version: '0.21.2', schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' },
  { name: 'no-version' },
];

/** Spans of every shape; `validIds`: hex ids as the SDK makes them (else any characters). */
const spanArbitrary = (validIds: boolean): fc.Arbitrary<ReadableSpan> => fc
  .record({
    name: text(80),
    kind: fc.option(fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER), { nil: undefined }),
    ctx: validIds ? spanContextWith(validHex) : spanContext,
    parent: fc.option(spanContext, { nil: undefined }),
    startTime: hrTime,
    endTime: hrTime,
    status: fc.oneof(
      fc.constant({ code: SpanStatusCode.UNSET }),
      fc.constant({ code: SpanStatusCode.OK }),
      fc.record({ code: fc.constant(SpanStatusCode.ERROR), message: fc.option(text(50), { nil: undefined }) }),
    ),
    attributes,
    events: fc.array(event, { maxLength: 3 }),
    links: fc.array(link, { maxLength: 2 }),
    dropped: fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300)),
    resource: fc.nat(resources.length - 1),
    scope: fc.nat(scopes.length - 1),
  })
  .map(
    (r) =>
      ({
        name: r.name,
        kind: r.kind,
        spanContext: () => r.ctx,
        parentSpanContext: r.parent,
        startTime: r.startTime,
        endTime: r.endTime,
        status: r.status,
        attributes: r.attributes,
        links: r.links,
        events: r.events,
        duration: [0, 0],
        ended: true,
        resource: resources[r.resource],
        instrumentationScope: scopes[r.scope],
        droppedAttributesCount: r.dropped[0],
        droppedEventsCount: r.dropped[1],
        droppedLinksCount: r.dropped[2],
      }) as unknown as ReadableSpan,
  );
const span = spanArbitrary(false);
const validSpan = spanArbitrary(true);

// ---------------------------------------------------------------------------

describe('OTLP/protobuf encoder', () => {
  it('writes exactly the bytes of the library serializer, for any batch', () => {
    fc.assert(
      fc.property(fc.array(span, { maxLength: 12 }), (spans) => {
        expect(ours(spans).equals(library(spans))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('round-trips names, ids, times, kinds, status, events, links and attribute values with their types', () => {
    fc.assert(
      fc.property(fc.uniqueArray(validSpan, { minLength: 1, maxLength: 6, selector: (s) => s.spanContext().spanId }), (spans) => {
        const decoded = decode(ours(spans));
        expect(decoded).toHaveLength(spans.length);
        // the decoder returns spans grouped by resource and scope; match them by span id
        for (const s of spans) {
          const d = decoded.find((x) => x.spanId === s.spanContext().spanId);
          expect(d).toBeDefined();
          if (!d) continue;
          expect(d.traceId).toBe(s.spanContext().traceId);
          expect(d.name).toBe(Buffer.from(s.name, 'utf8').toString('utf8'));
          expect(d.kind).toBe(s.kind === undefined ? 0 : s.kind + 1);
          expect(d.status.code).toBe(s.status.code);
          expect(d.events).toHaveLength(s.events.length);
          // keys as they read back from UTF-8 (lone surrogates become U+FFFD); skip keys that collide that way
          const wire = (t: string) => Buffer.from(t, 'utf8').toString('utf8');
          const wireKeys = Object.keys(s.attributes).map(wire);
          for (const [rawKey, v] of Object.entries(s.attributes)) {
            const k = wire(rawKey);
            if (wireKeys.indexOf(k) !== wireKeys.lastIndexOf(k)) continue;
            if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
              expect(d.attributeTypes[k]).toBe('int');
              expect(d.attributes[k]).toBe(v === 0 ? 0 : v);
            } else if (typeof v === 'string') {
              expect(d.attributeTypes[k]).toBe('string');
              expect(d.attributes[k]).toBe(wire(v));
            } else if (typeof v === 'boolean') {
              expect(d.attributes[k]).toBe(v);
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('encodes times exactly (nanoseconds past 2^53) and ids as bytes', () => {
    const s = {
      name: 'x',
      kind: SpanKind.INTERNAL,
      spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED }),
      startTime: [1_764_000_000, 123_456_789] as HrTime,
      endTime: [1_764_000_001, 999_999_999] as HrTime,
      status: { code: SpanStatusCode.UNSET },
      attributes: {},
      links: [],
      events: [],
      duration: [1, 0],
      ended: true,
      resource: resources[0],
      instrumentationScope: scopes[0],
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    } as unknown as ReadableSpan;
    const [d] = decode(ours([s]));
    expect(d?.startTimeUnixNano).toBe('1764000000123456789');
    expect(d?.endTimeUnixNano).toBe('1764000001999999999');
    expect(d?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(d?.spanId).toBe('b7ad6b7169203331');
  });

  it('handles batches of several MB (multi-byte length prefixes moved into place)', () => {
    const big = 'é'.repeat(40_000);
    const spans = fc.sample(span, { numRuns: 60, seed: 7 }).map((s) => ({ ...s, spanContext: s.spanContext, attributes: { ...s.attributes, big } }) as ReadableSpan);
    const bytes = ours(spans);
    expect(bytes.length).toBeGreaterThan(4 * 2 ** 20);
    expect(bytes.equals(library(spans))).toBe(true);
    expect(decode(bytes)).toHaveLength(60);
  });

  it('returns a copy the caller owns: the next batch does not overwrite it', () => {
    const [a, b] = fc.sample(fc.array(span, { minLength: 3, maxLength: 3 }), { numRuns: 2, seed: 11 }) as [ReadableSpan[], ReadableSpan[]];
    const first = encodeTraceExportRequest(a);
    const copy = Buffer.from(first);
    encodeTraceExportRequest(b);
    expect(Buffer.from(first).equals(copy)).toBe(true);
  });
});

describe('OTLP/protobuf encoder on the service’s own spans', () => {
  const tracing = testTracing();
  beforeEach(() => tracing.reset());
  // a Langfuse-kind source so the generation carries the integer prompt version
  const langfuseKind = (): PromptSource => {
    const local = LocalPromptSource.fromPath(testSettings().prompts.localFile);
    return { kind: 'langfuse', fetch: (name, label) => local.fetch(name, label) };
  };

  it('matches the library and keeps every attribute, with the prompt version an int', async () => {
    const { app } = await build({ promptSource: langfuseKind() });
    for (const user of ['usr_pb_01', 'usr_pb_02']) {
      const res = await app.inject({ method: 'POST', url: '/order-status', headers: { 'content-type': 'application/json' }, payload: { query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: user } });
      expect(res.statusCode).toBe(200);
    }
    const spans = tracing.spans();
    expect(spans.length).toBe(24);
    const bytes = ours(spans);
    expect(bytes.equals(library(spans))).toBe(true);
    const decoded = decode(bytes);
    expect(decoded).toHaveLength(spans.length);
    for (const d of decoded) {
      const original = spans.find((s) => s.spanContext().spanId === d.spanId) as ReadableSpan;
      expect(d.attributes).toEqual(original.attributes);
      expect(d.attributes['langfuse.session.id']).toMatch(/^conv_/);
      expect(d.attributes['langfuse.trace.tags']).toEqual(['order-status', 'http', 'production']);
    }
    const generation = decoded.find((d) => d.name === 'openai.responses.create');
    expect(generation?.attributeTypes['langfuse.observation.prompt.version']).toBe('int');
    expect(generation?.attributes['langfuse.observation.prompt.version']).toBe(1);
  });
});

describe('trace exporter (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => rx.close());
  beforeEach(() => rx.reset());

  const batch = fc.sample(fc.uniqueArray(validSpan, { minLength: 5, maxLength: 5, selector: (s) => s.spanContext().spanId }), { numRuns: 1, seed: 3 })[0] as ReadableSpan[];
  const exportOnce = (protocol: 'http/protobuf' | 'http/json') => {
    const exporter = createTraceExporter({ ...testSettings().telemetry, tracesEndpoint: rx.endpoint, protocol });
    return new Promise<number>((resolve) => exporter.export(batch, (r) => resolve(r.code))).finally(() => exporter.shutdown());
  };

  it('sends application/x-protobuf by default, decoded as sent', async () => {
    expect(testSettings().telemetry.protocol).toBe('http/protobuf');
    expect(await exportOnce('http/protobuf')).toBe(0);
    expect(rx.requests.map((r) => r.contentType)).toEqual(['application/x-protobuf']);
    expect(rx.spans.map((s) => s.spanId).sort()).toEqual(batch.map((s) => s.spanContext().spanId).sort());
  });

  it('retries a 503 like the stock exporter', async () => {
    rx.failNext(1, 503, { retryAfter: '0' });
    expect(await exportOnce('http/protobuf')).toBe(0);
    expect(rx.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(rx.spans).toHaveLength(5);
  });

  it('sends OTLP/JSON with http/json', async () => {
    expect(await exportOnce('http/json')).toBe(0);
    expect(rx.requests.map((r) => r.contentType)).toEqual(['application/json']);
    expect(rx.spans).toHaveLength(5);
  });

  it('rejects an encoding it cannot send, naming the variable', () => {
    expect(() => testSettings({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_PROTOCOL/);
    expect(testSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).telemetry.protocol).toBe('http/json');
    expect(testSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).telemetry.protocol).toBe('http/protobuf');
  });
});
