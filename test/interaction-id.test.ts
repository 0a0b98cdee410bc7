import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InteractionIds, InvalidInteractionIdError, MAX_INTERACTION_ID_LENGTH, type Interaction } from '../src/quality/interaction-id.js';

const KEY = 'k'.repeat(32);
const OTHER_KEY = 'o'.repeat(32);
let now = Date.UTC(2026, 10, 1);
const clock = { now: () => now };
const ids = (keys: string[] = [KEY], ttlSeconds = 604_800) => new InteractionIds({ keys, ttlSeconds, clock });

const interaction: Omit<Interaction, 'issuedAt'> = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  generationSpanId: '00f067aa0ba902b7',
  runSpanId: 'aaaaaaaaaaaaaaaa',
  conversationId: 'conv_0123456789abcdef',
  userId: 'usr_ix_01',
  region: 'eu',
  prompt: { name: 'order-status-answer', version: 14, label: 'prod-b' },
};

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInteractionIdError);
    return error as InvalidInteractionIdError;
  }
  throw new Error('expected the id to be refused');
};

describe('interaction ids', () => {
  it('binds trace, generation, conversation, user, region, prompt identity and issue time', () => {
    const id = ids().mint(interaction);
    expect(id).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    // Opaque: no field is readable as-is in the id.
    expect(id).not.toContain('usr_ix_01');
    const { runSpanId: _link, ...rest } = interaction;
    expect(ids().verify(id)).toEqual({ ...rest, issuedAt: Math.floor(now / 1000) });
  });

  it('keeps the run span to link to when there was no model call (escalated), and no prompt', () => {
    const id = ids().mint({ traceId: interaction.traceId, runSpanId: 'aaaaaaaaaaaaaaaa', conversationId: 'c1', userId: 'u1', region: 'us' });
    expect(ids().verify(id)).toEqual({ traceId: interaction.traceId, runSpanId: 'aaaaaaaaaaaaaaaa', conversationId: 'c1', userId: 'u1', region: 'us', issuedAt: Math.floor(now / 1000) });
  });

  it('is minted without a trace when tracing is off', () => {
    const verified = ids().verify(ids().mint({ conversationId: 'c1', userId: 'u1', region: 'eu' }));
    expect(verified.traceId).toBeUndefined();
    expect(verified.generationSpanId).toBeUndefined();
  });

  it('verifies with the same key in another instance (another replica, a restart), not with another key', () => {
    const id = ids().mint(interaction);
    expect(ids([KEY]).verify(id).userId).toBe('usr_ix_01');
    expect(refusal(() => ids([OTHER_KEY]).verify(id)).reason).toBe('signature');
  });

  it('rotates: the first key signs, every listed key verifies', () => {
    const old = ids([OTHER_KEY]).mint(interaction);
    const rotated = ids([KEY, OTHER_KEY]);
    expect(rotated.verify(old).userId).toBe('usr_ix_01');
    expect(ids([KEY]).verify(rotated.mint(interaction)).userId).toBe('usr_ix_01');
  });

  it('refuses any change to the payload or the signature (forgery)', () => {
    const id = ids().mint(interaction);
    const [body, sig] = id.split('.') as [string, string];
    const forgedPayload = Buffer.from(body, 'base64url');
    forgedPayload.writeUInt8((forgedPayload.at(-1) as number) ^ 1, forgedPayload.length - 1);
    expect(refusal(() => ids().verify(`${forgedPayload.toString('base64url')}.${sig}`)).reason).toBe('signature');
    expect(refusal(() => ids().verify(`${body}.${sig.slice(0, -2)}AA`)).reason).toBe('signature');
    // Another user's id with this user's name swapped in: the signature no longer matches.
    const other = ids().mint({ ...interaction, userId: 'usr_ix_02' });
    expect(refusal(() => ids().verify(`${other.split('.')[0]}.${sig}`)).reason).toBe('signature');
  });

  it.each([
    ['empty', ''],
    ['no signature', 'abc'],
    ['three parts', 'a.b.c'],
    ['not base64url', 'ab$c.def'],
    ['too long', `${'a'.repeat(MAX_INTERACTION_ID_LENGTH)}.b`],
  ])('refuses a malformed id (%s)', (_case, id) => {
    expect(refusal(() => ids().verify(id)).reason).toBe('malformed');
  });

  it('expires after the TTL, and refuses ids issued in the future', () => {
    const short = ids([KEY], 60);
    const id = short.mint(interaction);
    now += 60_000;
    expect(short.verify(id).userId).toBe('usr_ix_01');
    now += 1_000;
    const expired = refusal(() => short.verify(id));
    expect(expired.reason).toBe('expired');
    expect(expired.message).toContain('expired');
    const future = short.mint({ ...interaction, issuedAt: Math.floor(now / 1000) + 3_600 });
    expect(refusal(() => short.verify(future)).reason).toBe('malformed');
  });

  it(`stays within ${MAX_INTERACTION_ID_LENGTH} characters for the widest ids the API accepts`, () => {
    const id = (n: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,${n - 1}}$`));
    fc.assert(
      fc.property(id(128), id(64), fc.stringMatching(/^[a-z]{2,8}$/), fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,63}$/), (conversationId, userId, region, label) => {
        const minted = ids().mint({ ...interaction, conversationId, userId, region, prompt: { name: 'order-status-answer', version: 2 ** 31, label } });
        expect(minted.length).toBeLessThanOrEqual(MAX_INTERACTION_ID_LENGTH);
        expect(ids().verify(minted)).toMatchObject({ conversationId, userId, region, prompt: { label } });
      }),
      { numRuns: 200 },
    );
    const widest = ids().mint({ ...interaction, conversationId: 'c'.repeat(128), userId: 'u'.repeat(64), region: 'r'.repeat(8), prompt: { name: 'order-status-answer', version: 99, label: 'l'.repeat(64) } });
    expect(widest.length).toBeLessThanOrEqual(MAX_INTERACTION_ID_LENGTH);
  });
});
