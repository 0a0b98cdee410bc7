/** The Langfuse stand-in's dataset APIs, driven by the real @langfuse/client, answer as Langfuse does. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LangfuseClient } from '@langfuse/client';
import { V4_EVENTS_ONLY_MESSAGE } from './support/langfuse-datasets-stand-in.js';
import { startLangfusePromptStandIn, type LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';

let standIn: LangfusePromptStandIn;
let client: LangfuseClient;
beforeEach(async () => {
  standIn = await startLangfusePromptStandIn({});
  client = new LangfuseClient({ publicKey: standIn.publicKey, secretKey: standIn.secretKey, baseUrl: standIn.baseUrl });
});
afterEach(async () => standIn.close());

const failure = async (promise: Promise<unknown>): Promise<{ statusCode?: number; body?: unknown }> => {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; body?: unknown };
  }
  throw new Error('expected the request to fail');
};

describe('datasets and items', () => {
  it('upserts a dataset by name and items by id, and reads them back', async () => {
    const first = await client.api.datasets.create({ name: 'regression', description: 'v1' });
    const again = await client.api.datasets.create({ name: 'regression', metadata: { rubric: 'r1' } });
    expect(again).toMatchObject({ id: first.id, name: 'regression', description: 'v1', metadata: { rubric: 'r1' }, projectId: 'stand-in-project' });
    expect(await client.api.datasets.get('regression')).toMatchObject({ id: first.id });
    expect((await client.api.datasets.list()).data).toHaveLength(1);

    await client.api.datasetItems.create({ datasetName: 'regression', id: 'case-1', input: { q: 1 }, expectedOutput: { outcome: 'answer' } });
    const updated = await client.api.datasetItems.create({ datasetName: 'regression', id: 'case-1', input: { q: 2 } });
    expect(updated).toMatchObject({ id: 'case-1', datasetId: first.id, datasetName: 'regression', status: 'ACTIVE', input: { q: 2 }, expectedOutput: { outcome: 'answer' } });
    expect(standIn.datasets?.items.size).toBe(1);
  });

  it('answers 404 for a missing dataset and for an item id another dataset uses', async () => {
    expect(await failure(client.api.datasets.get('nope'))).toMatchObject({ statusCode: 404, body: { message: 'Dataset not found', error: 'LangfuseNotFoundError' } });
    expect(await failure(client.api.datasetItems.create({ datasetName: 'nope', id: 'x' }))).toMatchObject({ statusCode: 404, body: { message: 'Dataset not found' } });
    await client.api.datasets.create({ name: 'a' });
    await client.api.datasets.create({ name: 'b' });
    await client.api.datasetItems.create({ datasetName: 'a', id: 'shared' });
    expect(await failure(client.api.datasetItems.create({ datasetName: 'b', id: 'shared' }))).toMatchObject({
      statusCode: 404,
      body: { message: 'The dataset item with id shared already exists in a dataset other than b' },
    });
  });

  it('needs the project keys', async () => {
    const stranger = new LangfuseClient({ publicKey: 'pk-other', secretKey: 'sk-other', baseUrl: standIn.baseUrl });
    expect(await failure(stranger.api.datasets.create({ name: 'x' }))).toMatchObject({ statusCode: 401 });
  });
});

describe('dataset run items', () => {
  beforeEach(async () => {
    await client.api.datasets.create({ name: 'regression' });
    await client.api.datasetItems.create({ datasetName: 'regression', id: 'case-1' });
  });

  it('creates the run on first use and links each item to its trace', async () => {
    const one = await client.api.datasetRunItems.create({ runName: 'r1', runDescription: 'd', metadata: { v: 2 }, datasetItemId: 'case-1', traceId: 't'.repeat(32), observationId: 'o'.repeat(16) });
    const two = await client.api.datasetRunItems.create({ runName: 'r1', datasetItemId: 'case-1', traceId: 'u'.repeat(32) });
    expect(one).toMatchObject({ datasetRunName: 'r1', datasetItemId: 'case-1', traceId: 't'.repeat(32), observationId: 'o'.repeat(16) });
    expect(two.datasetRunId).toBe(one.datasetRunId);
    expect(standIn.datasets?.runs).toEqual([expect.objectContaining({ name: 'r1', description: 'd', metadata: { v: 2 } })]);
  });

  it('is strict: unknown keys and a missing trace are 400, an unknown item 404', async () => {
    const post = (body: unknown) =>
      fetch(`${standIn.baseUrl}/api/public/dataset-run-items`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${standIn.publicKey}:${standIn.secretKey}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const unknown = await post({ runName: 'r', datasetItemId: 'case-1', traceId: 't', experiment: 'x' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ message: 'Invalid request data', error: [expect.objectContaining({ code: 'unrecognized_keys' })] });
    const noTrace = await post({ runName: 'r', datasetItemId: 'case-1' });
    expect(noTrace.status).toBe(400);
    expect(JSON.stringify(await noTrace.json())).toContain('observationId or traceId must be provided');
    expect((await post({ runName: 'r', datasetItemId: 'nope', traceId: 't' })).status).toBe(404);
  });

  it("answers Langfuse v4's events_only 404 in v4 mode, before authenticating", async () => {
    standIn.datasets?.setRunItemsMode('v4');
    expect(await failure(client.api.datasetRunItems.create({ runName: 'r', datasetItemId: 'case-1', traceId: 't' }))).toMatchObject({ statusCode: 404, body: { message: V4_EVENTS_ONLY_MESSAGE } });
    const anonymous = await fetch(`${standIn.baseUrl}/api/public/dataset-run-items`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(404);
  });
});
