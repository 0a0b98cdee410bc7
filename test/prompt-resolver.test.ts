import { describe, expect, it } from 'vitest';
import { PromptUnavailableError, PromptVariablesMismatchError } from '../src/errors.js';
import { assignPromptLabel, PROMPT_AB_ARMS } from '../src/prompts/label-assignment.js';
import { LocalPromptSource, promptVersions, readPromptFile } from '../src/prompts/local-prompt-source.js';
import { PromptFetchTimeoutError, PromptNotFoundError, type PromptSource } from '../src/prompts/prompt-source.js';
import { PromptResolver } from '../src/prompts/prompt-resolver.js';
import { assertVariableContract, compilePrompt, toPromptTemplate, type PromptTemplate } from '../src/prompts/prompt-template.js';
import { silentLogger } from './support/build.js';

const versions = promptVersions(readPromptFile('prompts/order-status-answer.json'));
const template = (version = 1, label = 'production'): PromptTemplate => toPromptTemplate({ ...versions[0]!, version }, label);

/** A source whose next answers the test controls; counts fetches and can hold them open. */
class ScriptedSource implements PromptSource {
  readonly kind = 'langfuse';
  fetches = 0;
  mode: 'ok' | 'timeout' | 'missing' | 'hold' = 'ok';
  version = 1;
  private release: (() => void) | undefined;
  fetch(_name: string, label: string): Promise<PromptTemplate> {
    this.fetches += 1;
    if (this.mode === 'timeout') return Promise.reject(new PromptFetchTimeoutError('timed out'));
    if (this.mode === 'missing') return Promise.reject(new PromptNotFoundError(`Prompt not found: label '${label}'`));
    if (this.mode === 'hold') return new Promise((resolve) => (this.release = () => resolve(template(this.version, label))));
    return Promise.resolve(template(this.version, label));
  }
  releaseHeld() {
    this.release?.();
  }
}

function setup(options: { ttl?: number; maxStale?: number } = {}) {
  let now = 1_000_000;
  const source = new ScriptedSource();
  const resolver = new PromptResolver({
    promptName: 'order-status-answer',
    source,
    clock: { now: () => now },
    logger: silentLogger,
    ttlSeconds: options.ttl ?? 60,
    maxStaleSeconds: options.maxStale ?? 600,
    fetchTimeoutMs: 1_000,
  });
  return { source, resolver, advance: (seconds: number) => (now += seconds * 1000) };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('A/B label assignment', () => {
  it('puts the SPEC fixtures in their arms and is deterministic', () => {
    expect(assignPromptLabel('usr_prompt_ab_00', PROMPT_AB_ARMS)).toBe('prod-a');
    expect(assignPromptLabel('usr_prompt_ab_01', PROMPT_AB_ARMS)).toBe('prod-b');
    expect(assignPromptLabel('usr_prompt_ab_01', PROMPT_AB_ARMS)).toBe(assignPromptLabel('usr_prompt_ab_01', PROMPT_AB_ARMS));
  });

  it('works for any id string (the book crashed on non-hex suffixes)', () => {
    for (const id of ['', 'x', 'usr_zz', 'ümlaut-🙂', '   ', 'a'.repeat(500)]) {
      expect(['prod-a', 'prod-b']).toContain(assignPromptLabel(id, PROMPT_AB_ARMS));
    }
  });

  it('is roughly uniform over 10k ids and follows weights', () => {
    const counts = { 'prod-a': 0, 'prod-b': 0 } as Record<string, number>;
    for (let i = 0; i < 10_000; i += 1) counts[assignPromptLabel(`usr_${i}`, PROMPT_AB_ARMS)]! += 1;
    expect(counts['prod-a']).toBeGreaterThan(4_800);
    expect(counts['prod-a']).toBeLessThan(5_200);
    let heavy = 0;
    for (let i = 0; i < 10_000; i += 1) if (assignPromptLabel(`u${i}`, [{ label: 'a', weight: 9 }, { label: 'b', weight: 1 }]) === 'a') heavy += 1;
    expect(heavy).toBeGreaterThan(8_800);
    expect(heavy).toBeLessThan(9_200);
  });

  it('sends everyone to production when there is no experiment', () => {
    expect(assignPromptLabel('usr_prompt_ab_01', [])).toBe('production');
  });
});

describe('variable contract', () => {
  it('accepts exactly the five SPEC variables and compiles lists as given', () => {
    const t = template();
    expect(t.variables).toEqual(['memory_record_types', 'order_state', 'policy_document_ids', 'query', 'region']);
    const messages = compilePrompt(t, { query: 'Q <b>&', region: 'eu', order_state: 'processing', policy_document_ids: 'a, b', memory_record_types: 'm' });
    expect(messages.at(-1)?.content).toContain('Question: Q <b>&'); // no HTML escaping
    expect(messages.at(-1)?.content).toContain('Policy document IDs: a, b');
  });

  it('fails when the template needs a variable the context lacks, or lacks one the context has', () => {
    const extra = toPromptTemplate({ name: 'p', version: 3, labels: ['production'], prompt: [{ role: 'user', content: '{{query}} {{region}} {{order_state}} {{policy_document_ids}} {{memory_record_types}} {{vip}}' }] }, 'production');
    expect(() => assertVariableContract(extra)).toThrow(PromptVariablesMismatchError);
    const fewer = toPromptTemplate({ name: 'p', version: 4, labels: ['production'], prompt: [{ role: 'user', content: '{{query}}' }] }, 'production');
    expect(() => assertVariableContract(fewer)).toThrow(/template lacks: region/);
  });
});

describe('prompt resolver cache', () => {
  it('serves a fresh template as langfuse without fetching again inside the TTL', async () => {
    const { source, resolver, advance } = setup();
    expect((await resolver.resolve('production')).source).toBe('langfuse');
    advance(30);
    expect((await resolver.resolve('production')).source).toBe('langfuse');
    expect(source.fetches).toBe(1);
  });

  it('refreshes ahead in the background without making the request wait', async () => {
    const { source, resolver, advance } = setup();
    await resolver.resolve('production');
    source.mode = 'hold';
    source.version = 2;
    advance(50); // past 80% of the TTL
    const served = await resolver.resolve('production'); // returns while the refresh is held open
    expect(served.template.version).toBe(1);
    expect(source.fetches).toBe(2);
    source.releaseHeld();
    await flush();
    expect((await resolver.resolve('production')).template.version).toBe(2);
  });

  it('keeps one fetch in flight per label under concurrent cold requests', async () => {
    const { source, resolver } = setup();
    source.mode = 'hold';
    const all = Promise.all(Array.from({ length: 50 }, () => resolver.resolve('production')));
    await flush();
    expect(source.fetches).toBe(1);
    source.releaseHeld();
    expect((await all).every((r) => r.template.version === 1)).toBe(true);
  });

  it('serves the cached template as `cache` with the error class once refreshes fail past the TTL', async () => {
    const { source, resolver, advance } = setup();
    await resolver.resolve('production');
    source.mode = 'timeout';
    advance(61);
    const first = await resolver.resolve('production'); // triggers the failing refresh
    await flush();
    const second = await resolver.resolve('production');
    expect(first.source).toBe('cache');
    expect(second).toMatchObject({ source: 'cache', fallbackErrorType: 'TimeoutError' });
    expect(second.template.version).toBe(1);
  });

  it('does not storm a failing Langfuse: background retries back off after a failure', async () => {
    const { source, resolver, advance } = setup();
    await resolver.resolve('production');
    source.mode = 'timeout';
    advance(61);
    await resolver.resolve('production');
    await flush();
    for (let i = 0; i < 100; i += 1) expect((await resolver.resolve('production')).source).toBe('cache');
    expect(source.fetches).toBe(2); // the warm fetch and one failed refresh
    advance(6); // past the back-off: one more attempt
    await resolver.resolve('production');
    expect(source.fetches).toBe(3);
  });

  it('fails closed once the template is stale past PROMPT_MAX_STALE_SECONDS, then recovers without restart', async () => {
    const { source, resolver, advance } = setup({ ttl: 60, maxStale: 120 });
    await resolver.resolve('production');
    source.mode = 'timeout';
    advance(121);
    await expect(resolver.resolve('production')).rejects.toThrow(PromptUnavailableError);
    expect(resolver.isResolvable('production')).toBe(false);
    source.mode = 'ok';
    await resolver.refreshDue();
    expect(await resolver.resolve('production')).toMatchObject({ source: 'langfuse' });
    expect(resolver.isResolvable('production')).toBe(true);
  });

  it('fails closed on a cold start with Langfuse down, and never uses another label', async () => {
    const { source, resolver } = setup();
    source.mode = 'timeout';
    await expect(resolver.resolve('prod-b')).rejects.toMatchObject({ code: 'prompt_unavailable', label: 'prod-b', causeType: 'TimeoutError' });
    await resolver.warm(['production']); // warming never throws
    expect(resolver.isResolvable('production')).toBe(false);
  });

  it('drops a label Langfuse no longer has instead of serving its old version', async () => {
    const { source, resolver, advance } = setup();
    await resolver.resolve('prod-b');
    source.mode = 'missing';
    advance(61);
    await resolver.resolve('prod-b').catch(() => undefined);
    await flush();
    await expect(resolver.resolve('prod-b')).rejects.toMatchObject({ causeType: 'PromptNotFoundError' });
  });

  it('mustFetch runs the fetch in this run and falls back to the cache when it fails', async () => {
    const { source, resolver } = setup();
    await resolver.resolve('production', { mustFetch: true });
    const restore = resolver.replaceSource({ kind: 'langfuse', fetch: () => Promise.reject(new PromptFetchTimeoutError('x')) });
    const fallback = await resolver.resolve('production', { mustFetch: true });
    restore();
    expect(fallback).toMatchObject({ source: 'cache', fallbackErrorType: 'TimeoutError' });
    expect((await resolver.resolve('production', { mustFetch: true })).source).toBe('langfuse');
    expect(source.fetches).toBe(2);
  });
});

describe('local prompt file', () => {
  it('resolves versions by label through the same path and reports source local', async () => {
    const local = LocalPromptSource.fromPath('prompts/order-status-answer.json');
    const resolver = new PromptResolver({ promptName: 'order-status-answer', source: local, clock: { now: Date.now }, logger: silentLogger, ttlSeconds: 60, maxStaleSeconds: 600, fetchTimeoutMs: 500 });
    expect(await resolver.resolve('prod-b')).toMatchObject({ source: 'local', template: { version: 2, label: 'prod-b' } });
    expect((await resolver.resolve('production')).template.modelConfig).toEqual({ temperature: 0.2, maxOutputTokens: 300 });
    await expect(resolver.resolve('latest')).rejects.toThrow(PromptUnavailableError);
  });
});
