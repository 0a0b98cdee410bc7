import { spawn } from 'node:child_process';
import { LangfuseClient } from '@langfuse/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLangfuseStandIn, TARGET_MESSAGE, type LangfuseStandIn } from './support/langfuse-quality-stand-in.js';

/** The stand-in's scores and metrics APIs, driven by the real @langfuse/client where it has a method. */
let langfuse: LangfuseStandIn;
let client: LangfuseClient;
const auth = `Basic ${Buffer.from('pk-lf-si:sk-lf-si').toString('base64')}`;

beforeAll(async () => {
  langfuse = await startLangfuseStandIn({ publicKey: 'pk-lf-si', secretKey: 'sk-lf-si' });
  client = new LangfuseClient({ publicKey: 'pk-lf-si', secretKey: 'sk-lf-si', baseUrl: langfuse.baseUrl });
});
afterAll(() => langfuse.close());
beforeEach(() => {
  langfuse.quality.reset();
  langfuse.quality.setMetricsApi('v4');
});

const postScore = (body: unknown, headers: Record<string, string> = { authorization: auth }) =>
  fetch(`${langfuse.baseUrl}/api/public/scores`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('POST /api/public/scores', () => {
  it('creates and upserts by id (the SDK client answers with the id)', async () => {
    const created = await client.api.legacy.scoreV1.create({ id: 's1', name: 'user_feedback', value: 'positive', dataType: 'CATEGORICAL', traceId: 't1', environment: 'dev' });
    expect(created).toEqual({ id: 's1' });
    await client.api.legacy.scoreV1.create({ id: 's1', name: 'user_feedback', value: 'negative', dataType: 'CATEGORICAL', traceId: 't1', environment: 'dev' });
    expect(langfuse.quality.scores.get('s1')).toMatchObject({ stringValue: 'negative', writes: 2, source: 'API', environment: 'dev' });
    const inferred = (await (await postScore({ name: 'n', value: 0.5, sessionId: 'c1' })).json()) as { id: string };
    expect(langfuse.quality.scores.get(inferred.id)).toMatchObject({ dataType: 'NUMERIC', value: 0.5, environment: 'default' });
  });

  it.each([
    ['no target', { name: 'n', value: 1, dataType: 'NUMERIC' }],
    ['trace and session', { name: 'n', value: 1, dataType: 'NUMERIC', traceId: 't', sessionId: 's' }],
    ['observation without trace', { name: 'n', value: 1, dataType: 'NUMERIC', sessionId: 's', observationId: 'o' }],
  ])('400 with Langfuse\'s message for %s', async (_case, body) => {
    const res = await postScore(body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { message: string; error: { message: string; path: string[] }[] };
    expect(json.message).toBe('Invalid request data');
    expect(json.error[0]).toMatchObject({ message: TARGET_MESSAGE, path: ['traceId', 'sessionId', 'datasetRunId', 'observationId'] });
    expect(TARGET_MESSAGE).toBe(
      'Provide exactly one of the following: traceId (with optional observationId), sessionId or datasetRunId. ObservationId requires traceId.',
    );
  });

  it.each([
    ['BOOLEAN other than 0/1', { name: 'n', value: 2, dataType: 'BOOLEAN', traceId: 't' }, 'Value must be a number equal to either 0 or 1 for data type BOOLEAN'],
    ['CATEGORICAL number', { name: 'n', value: 1, dataType: 'CATEGORICAL', traceId: 't' }, ''],
    ['empty name', { name: '', value: 1, traceId: 't' }, ''],
    ['EVAL source', { name: 'n', value: 1, traceId: 't', source: 'EVAL' }, ''],
    ['ANNOTATION without configId', { name: 'n', value: 1, dataType: 'NUMERIC', traceId: 't', source: 'ANNOTATION' }, 'configId'],
  ])('400 Invalid request data for %s', async (_case, body, message) => {
    const res = await postScore(body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { message: string; error: { message: string }[] };
    expect(json.message).toBe('Invalid request data');
    if (message) expect(JSON.stringify(json.error)).toContain(message);
    expect(langfuse.quality.scores.size).toBe(0);
  });

  it('401 without or with wrong Basic auth', async () => {
    expect((await postScore({ name: 'n', value: 1, traceId: 't' }, {})).status).toBe(401);
    const wrong = await postScore({ name: 'n', value: 1, traceId: 't' }, { authorization: `Basic ${Buffer.from('pk-lf-si:nope').toString('base64')}` });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'UnauthorizedError' });
  });
});

describe('GET /api/public/v2/metrics and /api/public/metrics', () => {
  const from = new Date(Date.now() - 3_600_000).toISOString();
  const to = new Date(Date.now() + 60_000).toISOString();
  const q = (query: object) => JSON.stringify({ fromTimestamp: from, toTimestamp: to, ...query });

  beforeEach(async () => {
    for (const [id, value, version] of [
      ['a', 'positive', 'o1'],
      ['b', 'negative', 'o1'],
      ['c', 'positive', 'o2'],
    ] as const) {
      await client.api.legacy.scoreV1.create({ id, name: 'user_feedback', value, dataType: 'CATEGORICAL', traceId: 't', observationId: version, environment: 'dev' });
    }
    await client.api.legacy.scoreV1.create({ id: 'd', name: 'answer_correctness', value: 1, dataType: 'BOOLEAN', traceId: 't', environment: 'dev' });
  });

  it('v2 groups by dimensions and names metrics <agg>_<measure>, counts as strings', async () => {
    const res = await client.api.metrics.metrics({
      query: q({ view: 'scores-categorical', dimensions: [{ field: 'name' }, { field: 'stringValue' }], metrics: [{ measure: 'count', aggregation: 'count' }] }),
    });
    expect(res.data).toEqual(
      expect.arrayContaining([
        { name: 'user_feedback', stringValue: 'positive', count_count: '2' },
        { name: 'user_feedback', stringValue: 'negative', count_count: '1' },
      ]),
    );
    const numeric = await client.api.metrics.metrics({ query: q({ view: 'scores-numeric', dimensions: [{ field: 'name' }], metrics: [{ measure: 'value', aggregation: 'avg' }] }) });
    expect(numeric.data).toEqual([{ name: 'answer_correctness', avg_value: 1 }]);
  });

  it('filters: string = and stringOptions any of; an unknown filter column is a 400', async () => {
    const res = await client.api.metrics.metrics({
      query: q({
        view: 'scores-categorical',
        metrics: [{ measure: 'count', aggregation: 'count' }],
        filters: [
          { column: 'stringValue', operator: 'any of', value: ['negative'], type: 'stringOptions' },
          { column: 'environment', operator: '=', value: 'dev', type: 'string' },
        ],
      }),
    });
    expect(res.data).toEqual([{ count_count: '1' }]);
    await expect(
      client.api.metrics.metrics({ query: q({ view: 'scores-categorical', metrics: [{ measure: 'count', aggregation: 'count' }], filters: [{ column: 'nope', operator: '=', value: 'x', type: 'string' }] }) }, { maxRetries: 0 }),
    ).rejects.toMatchObject({ statusCode: 400, body: { message: 'Invalid filter column: nope' } });
  });

  it('v2 refuses the traces view, trace-join dimensions and high-cardinality grouping without row_limit', async () => {
    const status = async (query: string) => (await fetch(`${langfuse.baseUrl}/api/public/v2/metrics?query=${encodeURIComponent(query)}`, { headers: { authorization: auth } })).status;
    expect(await status(q({ view: 'traces', metrics: [{ measure: 'count', aggregation: 'count' }] }))).toBe(400);
    expect(await status(q({ view: 'observations', dimensions: [{ field: 'traceName' }], metrics: [{ measure: 'count', aggregation: 'count' }] }))).toBe(400);
    expect(await status(q({ view: 'observations', dimensions: [{ field: 'traceId' }], metrics: [{ measure: 'count', aggregation: 'count' }] }))).toBe(400);
    expect(await status('{not json')).toBe(400);
    expect(await status(JSON.stringify({ view: 'observations', metrics: [], fromTimestamp: to, toTimestamp: from }))).toBe(400);
  });

  it('v4 mode: v1 answers 404 (events_only); v3 mode: v2 answers 404', async () => {
    const query = q({ view: 'scores-numeric', metrics: [{ measure: 'count', aggregation: 'count' }] });
    await expect(client.api.legacy.metricsV1.metrics({ query }, { maxRetries: 0 })).rejects.toMatchObject({
      statusCode: 404,
      body: { message: expect.stringContaining('events_only mode'), error: 'LangfuseNotFoundError' },
    });
    langfuse.quality.setMetricsApi('v3');
    await expect(client.api.metrics.metrics({ query }, { maxRetries: 0 })).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.api.legacy.metricsV1.metrics({ query })).data).toEqual([{ count_count: '1' }]);
  });
});

describe('standalone', () => {
  it('`node --import tsx test/support/langfuse-quality-stand-in.ts --port 0 --seed-repo-prompts` serves prompts and scores, exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/langfuse-quality-stand-in.ts', '--port', '0', '--public-key', 'pk', '--secret-key', 'sk', '--seed-repo-prompts'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const url = await new Promise<string>((resolve) => child.stdout.on('data', (d: Buffer) => resolve(/listening (\S+)/.exec(d.toString())?.[1] ?? '')));
    const headers = { authorization: `Basic ${Buffer.from('pk:sk').toString('base64')}`, 'content-type': 'application/json' };
    expect((await fetch(`${url}/api/public/v2/prompts/order-status-answer?label=prod-b`, { headers })).status).toBe(200);
    expect((await fetch(`${url}/api/public/scores`, { method: 'POST', headers, body: JSON.stringify({ name: 'n', value: 1, traceId: 't' }) })).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
