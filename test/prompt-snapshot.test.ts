import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PromptUnavailableError } from '../src/errors.js';
import { promptVersions, readPromptFile } from '../src/prompts/local-prompt-source.js';
import { FilePromptSnapshot, projectFingerprint } from '../src/prompts/prompt-snapshot.js';
import { PromptFetchTimeoutError, PromptNotFoundError, type PromptSource } from '../src/prompts/prompt-source.js';
import { PromptResolver } from '../src/prompts/prompt-resolver.js';
import { toPromptTemplate, type PromptTemplate } from '../src/prompts/prompt-template.js';
import type { LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';

/** SPEC §11: the prompt snapshot that lets a replica start while Langfuse is down. */

const versions = promptVersions(readPromptFile('prompts/order-status-answer.json'));
const template = (version: number, label: string): PromptTemplate =>
  toPromptTemplate({ ...versions[version - 1]!, labels: [label, 'latest'] }, label);

/** Answers with a chosen version, or fails the way the test says. */
class ScriptedSource implements PromptSource {
  readonly kind = 'langfuse';
  mode: 'ok' | 'timeout' | 'missing' = 'ok';
  version = 2;
  fetches = 0;
  async fetch(_name: string, label: string): Promise<PromptTemplate> {
    this.fetches += 1;
    if (this.mode === 'timeout') throw new PromptFetchTimeoutError('timed out');
    if (this.mode === 'missing') throw new PromptNotFoundError(`Prompt not found: label '${label}'`);
    return template(this.version, label);
  }
}

/** Log lines as objects, for "warned once, naming X" assertions. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, messages: () => lines.map((l) => String(l.msg)) };
}

const BASE_URL = 'http://langfuse.test:3000';
const START = Date.parse('2026-11-29T12:00:00.000Z');

function setup(options: { file?: string; now?: number; ttl?: number; maxStale?: number; baseUrl?: string; publicKey?: string } = {}) {
  const file = options.file ?? path.join(mkdtempSync(path.join(tmpdir(), 'snapshot-')), 'prompt-snapshot.json');
  const log = capturingLogger();
  let now = options.now ?? START;
  const snapshot = new FilePromptSnapshot({
    file,
    promptName: 'order-status-answer',
    langfuseBaseUrl: options.baseUrl ?? BASE_URL,
    langfusePublicKey: options.publicKey ?? 'pk-lf-snapshot',
    logger: log.logger,
    writeDelayMs: 5,
  });
  const source = new ScriptedSource();
  const resolver = new PromptResolver({
    promptName: 'order-status-answer',
    source,
    clock: { now: () => now },
    logger: log.logger,
    ttlSeconds: options.ttl ?? 60,
    maxStaleSeconds: options.maxStale ?? 3_600,
    fetchTimeoutMs: 1_000,
    snapshot,
  });
  return { file, snapshot, source, resolver, log, advance: (seconds: number) => (now += seconds * 1000) };
}

/** A replica that served production v2 and prod-a v1, then stopped: its snapshot file. */
async function writtenSnapshot(): Promise<string> {
  const first = setup();
  first.source.version = 2;
  await first.resolver.warm(['production']);
  first.source.version = 1;
  await first.resolver.warm(['prod-a']);
  await first.snapshot.flush();
  return first.file;
}

describe('prompt snapshot: written after fetches', () => {
  it('writes the last fetched template of each label atomically, coalescing a burst into one write', async () => {
    const { file, snapshot, resolver } = setup();
    await resolver.warm(['production', 'prod-a', 'prod-b']);
    await new Promise((r) => setTimeout(r, 50));
    expect(snapshot.writeCount).toBe(1);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json).toMatchObject({
      format: 'order-status-agent/prompt-snapshot',
      schemaVersion: 1,
      promptName: 'order-status-answer',
      langfuse: { baseUrl: BASE_URL, project: projectFingerprint('pk-lf-snapshot') },
    });
    expect(json.entries.map((e: { label: string; version: number }) => [e.label, e.version])).toEqual([
      ['production', 2],
      ['prod-a', 2],
      ['prod-b', 2],
    ]);
    expect(json.entries[0].fetchedAt).toBe(new Date(START).toISOString());
    expect(json.entries[0].messages[1].content).toContain('{{query}}');
    // The key itself never reaches the disk; no temporary file is left behind.
    expect(readFileSync(file, 'utf8')).not.toContain('pk-lf-snapshot');
    expect(readdirSync(path.dirname(file))).toEqual(['prompt-snapshot.json']);
  });

  it('is not written from a swapped-in source (a scenario or test seam), and drops a label Langfuse no longer has', async () => {
    const { file, snapshot, resolver, source } = setup();
    await resolver.warm(['production', 'prod-a']);
    await snapshot.flush();
    const restore = resolver.replaceSource({ kind: 'langfuse', fetch: async (_n, label) => template(1, label) });
    await resolver.refresh(['production']);
    restore();
    await snapshot.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).entries.map((e: { version: number }) => e.version)).toEqual([2, 2]);
    source.mode = 'missing';
    await resolver.refresh(['prod-a']);
    await snapshot.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).entries.map((e: { label: string }) => e.label)).toEqual(['production']);
  });
});

describe('prompt snapshot: a cold start with Langfuse unreachable', () => {
  it('serves the snapshot as cache with its version, stays ready, and switches to Langfuse once it answers', async () => {
    const file = await writtenSnapshot();
    const { resolver, source, advance, log } = setup({ file });
    advance(120);
    source.mode = 'timeout';
    await resolver.warm(['production', 'prod-a']);
    expect(resolver.isResolvable('production')).toBe(true);
    const served = await resolver.resolve('production');
    expect(served).toMatchObject({ source: 'cache', fallbackErrorType: 'TimeoutError' });
    expect(served.template.version).toBe(2);
    expect((await resolver.resolve('prod-a')).template.version).toBe(1);
    expect(log.lines.find((l) => l.msg === 'Langfuse unreachable at start-up: serving the prompt snapshot as cache')).toMatchObject({ label: 'production', version: 2, ageSeconds: 120 });

    source.mode = 'ok';
    // Langfuse is back (production still on v2)
    await resolver.refreshDue();
    expect(await resolver.resolve('production')).toMatchObject({ source: 'langfuse' });
  });

  it('serves even a snapshot younger than the TTL as cache: it was not fetched by this process', async () => {
    const file = await writtenSnapshot();
    const { resolver, source, advance } = setup({ file });
    advance(5);
    source.mode = 'timeout';
    expect(await resolver.resolve('production')).toMatchObject({ source: 'cache', fallbackErrorType: 'TimeoutError' });
  });

  it('ignores entries older than PROMPT_MAX_STALE_SECONDS by their fetch time: fails closed', async () => {
    const file = await writtenSnapshot();
    const { resolver, source, advance, log } = setup({ file, maxStale: 600 });
    advance(601);
    source.mode = 'timeout';
    await expect(resolver.resolve('production')).rejects.toBeInstanceOf(PromptUnavailableError);
    expect(resolver.isResolvable('production')).toBe(false);
    // Background retries keep failing; the snapshot is looked at (and the warning written) once.
    for (let i = 0; i < 3; i += 1) await resolver.refreshDue();
    expect(log.messages().filter((m) => m === 'prompt snapshot too old to serve (PROMPT_MAX_STALE_SECONDS): ignored')).toHaveLength(1);
  });

  it('never brings back a label Langfuse answered 404 for', async () => {
    const file = await writtenSnapshot();
    const { resolver, source } = setup({ file });
    source.mode = 'missing';
    await expect(resolver.resolve('production')).rejects.toMatchObject({ causeType: 'PromptNotFoundError' });
    source.mode = 'timeout';
    await expect(resolver.resolve('production')).rejects.toBeInstanceOf(PromptUnavailableError);
  });

  it.each([
    ['corrupt (not JSON)', () => '{"format": "order-status-agent/prompt-sn', 'prompt snapshot is corrupt (not JSON): ignored'],
    ['another format', (json: Record<string, unknown>) => JSON.stringify({ ...json, schemaVersion: 2 }), 'prompt snapshot has an unknown format: ignored'],
    ['a bad entry', (json: Record<string, unknown>) => JSON.stringify({ ...json, entries: [{ label: 'production', version: 'two' }] }), 'prompt snapshot has an unknown format: ignored'],
    ['another prompt', (json: Record<string, unknown>) => JSON.stringify({ ...json, promptName: 'other-prompt' }), 'prompt snapshot belongs to another prompt or Langfuse: ignored'],
  ])('ignores a %s snapshot with a warning and fails closed', async (_case, rewrite, warning) => {
    const file = await writtenSnapshot();
    writeFileSync(file, rewrite(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>));
    const { resolver, source, log } = setup({ file });
    source.mode = 'timeout';
    await expect(resolver.resolve('production')).rejects.toBeInstanceOf(PromptUnavailableError);
    expect(log.lines.filter((l) => l.msg === warning && l.level === 40)).toHaveLength(1);
  });

  it.each([
    ['another Langfuse base URL', { baseUrl: 'http://other-langfuse:3000' }, 'Langfuse base URL'],
    ['another Langfuse project (key pair)', { publicKey: 'pk-lf-someone-else' }, 'Langfuse project'],
  ])('ignores a snapshot of %s', async (_case, options, differs) => {
    const file = await writtenSnapshot();
    const { resolver, source, log } = setup({ file, ...options });
    source.mode = 'timeout';
    await expect(resolver.resolve('production')).rejects.toBeInstanceOf(PromptUnavailableError);
    expect(log.lines.find((l) => l.msg === 'prompt snapshot belongs to another prompt or Langfuse: ignored')).toMatchObject({ differs: [differs] });
  });
});

// Each test starts up to three server processes: minutes are generous on a loaded 2-core box.
describe('prompt snapshot: the service as a user runs it', { timeout: 90_000 }, () => {
  let langfuse: LangfusePromptStandIn;
  let otlp: OtlpReceiver;
  let dir: string;
  beforeAll(async () => {
    langfuse = await startSeededLangfuse('pk-lf-snap', 'sk-lf-snap');
    langfuse.addLabels('order-status-answer', 2, ['production']);
    otlp = await startOtlpReceiver();
    dir = mkdtempSync(path.join(tmpdir(), 'snapshot-process-'));
  });
  afterAll(async () => Promise.all([langfuse.close(), otlp.close()]));
  // Every process a test starts is stopped after it, even when the test fails or times out midway.
  const started: ServerProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
    if (!langfuse.listening) await langfuse.startListening();
  });
  const start = async (environment: Record<string, string>) => {
    const server = await startServerProcess(environment);
    started.push(server);
    return server;
  };

  const env = (extra: Record<string, string> = {}) => ({
    LANGFUSE_PUBLIC_KEY: 'pk-lf-snap',
    LANGFUSE_SECRET_KEY: 'sk-lf-snap',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    PROMPT_SNAPSHOT_FILE: path.join(dir, 'prompt-snapshot.json'),
    PROMPT_FETCH_TIMEOUT_MS: '500',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...extra,
  });

  it('restarts while Langfuse is down and answers from the snapshot (cache, right version, fallback attributes)', async () => {
    const first = await start(env());
    expect(((await (await postOrderStatus(first.url)).json()) as { prompt: unknown }).prompt).toMatchObject({ version: 2, source: 'langfuse' });
    first.child.kill('SIGTERM');
    await first.exited;

    await langfuse.stopListening();
    try {
      const second = await start(env());
      try {
        expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
        const res = await postOrderStatus(second.url, 'usr_snapshot_01');
        expect(res.status).toBe(200);
        const json = (await res.json()) as { prompt: unknown; trace_id: string };
        expect(json.prompt).toEqual({ name: 'order-status-answer', version: 2, label: 'production', source: 'cache' });
        expect(second.logs().join('\n')).toContain('serving the prompt snapshot as cache');

        await until(() => otlp.spans.some((s) => s.traceId === json.trace_id && s.name === 'openai.responses.create'));
        const inTrace = (name: string) => otlp.spans.find((s) => s.traceId === json.trace_id && s.name === name)!;
        const compose = inTrace('workflow.node compose_answer');
        expect(compose.attributes).toMatchObject({
          'app.prompt.fetch.source': 'cache',
          'app.prompt.fetch.error_type': 'ConnectionError',
          'app.prompt.version': 2,
          // Langfuse drops span events: the fallback is visible as the observation's level.
          'langfuse.observation.level': 'WARNING',
          'langfuse.observation.status_message': 'prompt served from cache: ConnectionError',
        });
        expect(compose.events.find((e) => e.name === 'prompt.cache_fallback')?.attributes).toEqual({ 'app.prompt.label': 'production', 'error.type': 'ConnectionError' });
        // Version identity intact: the generation still links to the real Langfuse version.
        expect(inTrace('openai.responses.create').attributes).toMatchObject({ 'langfuse.observation.prompt.name': 'order-status-answer', 'langfuse.observation.prompt.version': 2 });
      } finally {
        await second.stop();
      }
    } finally {
      await langfuse.startListening();
    }
  });

  it('fails closed (503 prompt_unavailable) with a snapshot past PROMPT_MAX_STALE_SECONDS, and ignores a corrupt one with a warning', async () => {
    const file = path.join(dir, 'stale-snapshot.json');
    const first = await start(env({ PROMPT_SNAPSHOT_FILE: file, PROMPT_CACHE_TTL_SECONDS: '1', PROMPT_MAX_STALE_SECONDS: '1' }));
    await postOrderStatus(first.url);
    first.child.kill('SIGTERM');
    await first.exited;
    await new Promise((r) => setTimeout(r, 1_200));

    await langfuse.stopListening();
    try {
      const stale = await start(env({ PROMPT_SNAPSHOT_FILE: file, PROMPT_CACHE_TTL_SECONDS: '1', PROMPT_MAX_STALE_SECONDS: '1' }));
      try {
        const res = await postOrderStatus(stale.url);
        expect(res.status).toBe(503);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('prompt_unavailable');
        expect((await fetch(`${stale.url}/readyz`)).status).toBe(503);
        expect(stale.logs().join('\n')).toContain('prompt snapshot too old to serve');
      } finally {
        await stale.stop();
      }

      writeFileSync(file, '\u0000\u0000garbage');
      const corrupt = await start(env({ PROMPT_SNAPSHOT_FILE: file }));
      try {
        expect((await postOrderStatus(corrupt.url)).status).toBe(503);
        expect(corrupt.logs().filter((l) => l.includes('prompt snapshot is corrupt (not JSON): ignored') && l.includes('"level":40'))).toHaveLength(1);
      } finally {
        await corrupt.stop();
      }
    } finally {
      await langfuse.startListening();
    }
  });
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
