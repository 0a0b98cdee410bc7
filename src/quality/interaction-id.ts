import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ServiceError } from '../errors.js';

/**
 * What an answer's `interaction_id` binds (SPEC §9). Stateless on purpose: any
 * replica holding the signing key, and a restarted process, verifies it
 * without a database.
 */
export interface Interaction {
  /** W3C trace id of the run; undefined when tracing was disabled. */
  traceId?: string;
  /** The generation's span id (the Langfuse observation the scores attach to); undefined when the run made no model call. */
  generationSpanId?: string;
  /** A span of the run to link to when there was no generation (the `invoke_agent` span). */
  runSpanId?: string;
  conversationId: string;
  userId: string;
  region: string;
  prompt?: { name: string; version: number; label: string };
  /** Unix seconds. */
  issuedAt: number;
}

/** Longest id this service mints (SPEC: ≤ 512 chars); longer input is malformed without decoding it. */
export const MAX_INTERACTION_ID_LENGTH = 512;
/** Ids issued this far in the future (another replica's clock) still verify. */
const CLOCK_SKEW_SECONDS = 300;
const FORMAT_VERSION = 1;
const HMAC_DOMAIN = 'order-status.interaction-id.v1.';
const FLAG_TRACE = 1;
const FLAG_GENERATION = 2;
const FLAG_PROMPT = 4;
const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class InvalidInteractionIdError extends ServiceError {
  override name = 'InvalidInteractionIdError';
  readonly code = 'invalid_interaction_id';
  readonly httpStatus = 400;
  constructor(
    message: string,
    /** Why, for logs only: malformed | signature | expired. */
    readonly reason: 'malformed' | 'signature' | 'expired',
  ) {
    super(message);
  }
  override details() {
    return { field: 'interaction_id' };
  }
}

export class InteractionForbiddenError extends ServiceError {
  override name = 'InteractionForbiddenError';
  readonly code = 'forbidden';
  readonly httpStatus = 403;
  override details() {
    return { field: 'user_id' };
  }
}

/** Binary writer/reader for the compact payload (an id must fit in 512 chars with the widest ids the API accepts). */
class Writer {
  private readonly parts: Buffer[] = [];
  u8(n: number): this {
    this.parts.push(Buffer.from([n]));
    return this;
  }
  u32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.parts.push(b);
    return this;
  }
  hex(value: string): this {
    this.parts.push(Buffer.from(value, 'hex'));
    return this;
  }
  str(value: string): this {
    const b = Buffer.from(value, 'utf8');
    if (b.length > 255) throw new RangeError('interaction field longer than 255 bytes');
    return this.u8(b.length).raw(b);
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  private take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0] as number;
  }
  u32(): number {
    return this.take(4).readUInt32BE(0);
  }
  hex(bytes: number): string {
    return this.take(bytes).toString('hex');
  }
  str(): string {
    return this.take(this.u8()).toString('utf8');
  }
  end(): void {
    if (this.pos !== this.buf.length) throw new RangeError('trailing bytes');
  }
}

function encode(i: Interaction): Buffer {
  const hasTrace = i.traceId !== undefined && HEX32.test(i.traceId);
  const linkSpan = i.generationSpanId ?? i.runSpanId;
  const hasGeneration = hasTrace && i.generationSpanId !== undefined && HEX16.test(i.generationSpanId);
  const w = new Writer().u8(FORMAT_VERSION);
  w.u8((hasTrace ? FLAG_TRACE : 0) | (hasGeneration ? FLAG_GENERATION : 0) | (i.prompt ? FLAG_PROMPT : 0));
  if (hasTrace) w.hex(i.traceId as string).hex(linkSpan !== undefined && HEX16.test(linkSpan) ? linkSpan : '0'.repeat(16));
  w.u32(i.issuedAt).str(i.conversationId).str(i.userId).str(i.region);
  if (i.prompt) w.str(i.prompt.name).u32(i.prompt.version).str(i.prompt.label);
  return w.done();
}

function decode(payload: Buffer): Interaction {
  const r = new Reader(payload);
  if (r.u8() !== FORMAT_VERSION) throw new RangeError('unknown format');
  const flags = r.u8();
  if (flags & ~(FLAG_TRACE | FLAG_GENERATION | FLAG_PROMPT)) throw new RangeError('unknown flags');
  const out: Partial<Interaction> = {};
  if (flags & FLAG_TRACE) {
    out.traceId = r.hex(16);
    const span = r.hex(8);
    if (flags & FLAG_GENERATION) out.generationSpanId = span;
    else if (span !== '0'.repeat(16)) out.runSpanId = span;
  }
  out.issuedAt = r.u32();
  out.conversationId = r.str();
  out.userId = r.str();
  out.region = r.str();
  if (flags & FLAG_PROMPT) out.prompt = { name: r.str(), version: r.u32(), label: r.str() };
  r.end();
  return out as Interaction;
}

export interface InteractionIdsOptions {
  /** The first key signs; every key verifies (rotate by prepending a new key, drop the old one after the TTL). */
  keys: readonly (string | Buffer)[];
  ttlSeconds: number;
  clock: Clock;
}

/**
 * Mints and verifies interaction ids: `base64url(payload).base64url(HMAC-SHA256(key, payload))`.
 * Opaque to clients; only a holder of the signing key can mint one.
 */
export class InteractionIds {
  private readonly keys: Buffer[];

  constructor(private readonly options: InteractionIdsOptions) {
    if (options.keys.length === 0) throw new Error('InteractionIds needs at least one signing key');
    this.keys = options.keys.map((k) => (typeof k === 'string' ? Buffer.from(k, 'utf8') : k));
  }

  /** A random 256-bit key: development only (ids stop verifying after a restart). */
  static randomKey(): Buffer {
    return randomBytes(32);
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  mint(interaction: Omit<Interaction, 'issuedAt'> & { issuedAt?: number }): string {
    const issuedAt = interaction.issuedAt ?? Math.floor(this.options.clock.now() / 1000);
    const body = encode({ ...interaction, issuedAt }).toString('base64url');
    return `${body}.${this.sign(this.keys[0] as Buffer, body).toString('base64url')}`;
  }

  /** The bound interaction, or InvalidInteractionIdError (forged, malformed or expired). */
  verify(id: string): Interaction {
    const malformed = () => new InvalidInteractionIdError('interaction_id was not issued by this service or is malformed', 'malformed');
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_INTERACTION_ID_LENGTH) throw malformed();
    const [body, signature, extra] = id.split('.');
    if (extra !== undefined || !body || !signature || !BASE64URL.test(body) || !BASE64URL.test(signature)) throw malformed();
    const presented = Buffer.from(signature, 'base64url');
    const valid = this.keys.some((key) => {
      const expected = this.sign(key, body);
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    });
    if (!valid) throw new InvalidInteractionIdError('interaction_id was not issued by this service or is malformed', 'signature');
    let interaction: Interaction;
    try {
      interaction = decode(Buffer.from(body, 'base64url'));
    } catch {
      // Signed by us but unreadable: a format this version does not know.
      throw malformed();
    }
    const now = Math.floor(this.options.clock.now() / 1000);
    if (interaction.issuedAt > now + CLOCK_SKEW_SECONDS) throw malformed();
    if (now - interaction.issuedAt > this.options.ttlSeconds) {
      throw new InvalidInteractionIdError(`interaction_id has expired (ids are valid for ${this.options.ttlSeconds} s)`, 'expired');
    }
    return interaction;
  }

  private sign(key: Buffer, body: string): Buffer {
    return createHmac('sha256', key).update(HMAC_DOMAIN).update(body).digest();
  }
}
