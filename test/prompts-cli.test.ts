/**
 * Prompt lifecycle CLI (`npm run prompts -- <command>`) against the Langfuse prompt stand-in,
 * through the real @langfuse/client: PromptAdmin in-process, and the CLI as a child process.
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LangfuseClient } from '@langfuse/client';
import { PromptAdmin } from '../src/prompts/cli/prompt-admin.js';
import { parseCommand, run } from '../src/prompts/cli/prompts-cli.js';
import { promptVersions, readPromptFile } from '../src/prompts/local-prompt-source.js';
import { PROMPT_NAME } from '../src/prompts/prompt-template.js';
import { startLangfusePromptStandIn, type LangfusePromptSeed, type LangfusePromptStandIn } from './support/langfuse-prompt-stand-in.js';

const ROOT = new URL('..', import.meta.url).pathname;
const KEYS = { publicKey: 'pk-lf-cli-test', secretKey: 'sk-lf-cli-test' };
const FILE = promptVersions(readPromptFile(`${ROOT}prompts/order-status-answer.json`));
const [FILE_V1, FILE_V2] = FILE as [(typeof FILE)[number], (typeof FILE)[number]];

/** The file's version as a stand-in seed (same content; labels as given). */
function seedOf(v: (typeof FILE)[number], labels = v.labels): LangfusePromptSeed {
  return { name: v.name, type: 'chat', prompt: v.prompt, config: v.config, labels, commitMessage: v.commitMessage };
}

let standIn: LangfusePromptStandIn;
async function start(prompts?: LangfusePromptSeed[]): Promise<LangfusePromptStandIn> {
  standIn = await startLangfusePromptStandIn({ ...KEYS, prompts });
  return standIn;
}
afterEach(async () => {
  await standIn?.close();
});

function admin(overrides: { secretKey?: string; requestTimeoutMs?: number } = {}): PromptAdmin {
  const client = new LangfuseClient({ publicKey: KEYS.publicKey, secretKey: overrides.secretKey ?? KEYS.secretKey, baseUrl: standIn.baseUrl });
  return new PromptAdmin({ client, name: PROMPT_NAME, baseUrl: standIn.baseUrl, requestTimeoutMs: overrides.requestTimeoutMs });
}

const writes = (): string[] => standIn.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
const labelsByVersion = (): Record<number, string[]> =>
  Object.fromEntries(standIn.versions(PROMPT_NAME).map((v) => [v.version, [...v.labels].sort()]));

describe('seed', () => {
  it('creates both file versions with their labels on an empty project', async () => {
    await start();
    expect(await admin().seed(FILE)).toEqual(['created version 1 [production, prod-a]', 'created version 2 [prod-b]', 'updated: 2 created, 0 relabelled']);
    expect(labelsByVersion()).toEqual({ 1: ['prod-a', 'production'], 2: ['latest', 'prod-b'] });
    const [v1, v2] = standIn.versions(PROMPT_NAME);
    expect(v1?.prompt).toEqual(FILE_V1.prompt.map((m) => ({ ...m, type: 'chatmessage' })));
    expect(v2?.config).toEqual(FILE_V2.config);
    expect(v2?.commitMessage).toBe(FILE_V2.commitMessage);
    expect(writes()).toEqual(['POST /api/public/v2/prompts', 'POST /api/public/v2/prompts']);
  });

  it('makes no write the second time and says unchanged', async () => {
    await start();
    await admin().seed(FILE);
    standIn.clearRequests();
    expect(await admin().seed(FILE)).toEqual(['labels ok on version 1 [production, prod-a]', 'labels ok on version 2 [prod-b]', 'unchanged']);
    expect(writes()).toEqual([]);
  });

  it('creates only what is missing', async () => {
    await start([seedOf(FILE_V1)]);
    expect(await admin().seed(FILE)).toEqual(['labels ok on version 1 [production, prod-a]', 'created version 2 [prod-b]', 'updated: 1 created, 0 relabelled']);
    expect(writes()).toEqual(['POST /api/public/v2/prompts']);
  });

  it('adds labels no version holds, but never undoes a promotion', async () => {
    await start([seedOf(FILE_V1, []), seedOf(FILE_V2, ['prod-b', 'production'])]);
    expect(await admin().seed(FILE)).toEqual([
      'labels added to version 1 [prod-a]; production stays on version 2 (use promote to move it)',
      'labels ok on version 2 [prod-b]',
      'updated: 0 created, 1 relabelled',
    ]);
    expect(labelsByVersion()).toEqual({ 1: ['prod-a'], 2: ['latest', 'prod-b', 'production'] });
    expect(writes()).toEqual([`PATCH /api/public/v2/prompts/${PROMPT_NAME}/versions/1`]);
  });

  it('refuses, without writing, when a remote version differs from the file', async () => {
    const edited = { ...seedOf(FILE_V1), prompt: [{ role: 'system', content: 'edited in the UI' }, ...FILE_V1.prompt.slice(1)] };
    await start([edited]);
    await expect(admin().seed(FILE)).rejects.toThrow(/refusing to seed: .*diverges .*version 1 \(messages differ\)/);
    expect(writes()).toEqual([]);
  });

  it('refuses when only the config differs', async () => {
    await start([seedOf(FILE_V1), { ...seedOf(FILE_V2), config: { temperature: 0.9, max_output_tokens: 300 } }]);
    await expect(admin().seed(FILE)).rejects.toThrow(/version 2 \(config differs\)/);
    expect(writes()).toEqual([]);
  });

  it('ignores config key order', async () => {
    await start([{ ...seedOf(FILE_V1), config: { max_output_tokens: 300, temperature: 0.2 } }]);
    expect((await admin().seed(FILE)).at(-1)).toBe('updated: 1 created, 0 relabelled');
  });

  it('refuses when Langfuse has versions the file does not', async () => {
    await start([seedOf(FILE_V1), seedOf(FILE_V2), { ...seedOf(FILE_V2, []), commitMessage: 'made in the UI' }]);
    await expect(admin().seed(FILE)).rejects.toThrow(/version\(s\) 3 .*that the prompt file does not have/);
    expect(writes()).toEqual([]);
  });

  it('refuses a file that tries to seed latest', async () => {
    await start();
    await expect(admin().seed([{ ...FILE_V1, labels: ['latest'] }])).rejects.toThrow(/'latest' is assigned by Langfuse/);
    expect(standIn.requests).toEqual([]);
  });
});

describe('list, show', () => {
  beforeEach(async () => {
    await start([seedOf(FILE_V1), seedOf(FILE_V2)]);
  });

  it('lists one line per version', async () => {
    expect(await admin().list()).toEqual([
      'order-status-answer v1  production,prod-a  Initial order-status answer prompt',
      'order-status-answer v2  prod-b,latest  Escalate explicitly when the policy evidence does not cover the order state',
    ]);
  });

  it('follows list pagination', async () => {
    const a = admin();
    const client = (a as unknown as { client: LangfuseClient }).client;
    const meta = (versions: number[], page: number) => ({
      data: [{ name: PROMPT_NAME, type: 'chat', versions, labels: [], tags: [], lastUpdatedAt: '' }],
      meta: { page, limit: 50, totalItems: 2, totalPages: 2 },
    });
    const list = vi.spyOn(client.api.prompts, 'list').mockImplementation(((req: { page: number }) =>
      Promise.resolve(req.page === 1 ? meta([1], 1) : meta([2], 2))) as never);
    expect(await a.list()).toHaveLength(2);
    expect(list.mock.calls.map((c) => (c[0] as { page: number }).page)).toEqual([1, 2]);
  });

  it('shows by label (default production) and by version', async () => {
    const production = await admin().show({ label: 'production' });
    expect(production.slice(0, 5)).toEqual([
      `name: ${PROMPT_NAME}`,
      'version: 1',
      'labels: production, prod-a',
      'commit: Initial order-status answer prompt',
      'config: {"max_output_tokens":300,"temperature":0.2}',
    ]);
    expect(production.slice(5)).toEqual(FILE_V1.prompt.flatMap((m) => [`--- ${m.role}`, m.content]));
    expect((await admin().show({ label: 'prod-b' }))[1]).toBe('version: 2');
    expect((await admin().show({ version: 1 }))[2]).toBe('labels: production, prod-a');
  });

  it('reports a missing label as not found', async () => {
    await expect(admin().show({ label: 'staging' })).rejects.toThrow(`not found (404): Prompt not found: '${PROMPT_NAME}' with label 'staging'`);
  });
});

describe('promote, rollback', () => {
  beforeEach(async () => {
    await start([seedOf(FILE_V1), seedOf(FILE_V2)]);
  });

  it('moves a label to a version, and is a no-op when already there', async () => {
    expect(await admin().promote(2, 'production')).toEqual(['moved production from version 1 to version 2']);
    expect(labelsByVersion()).toEqual({ 1: ['prod-a'], 2: ['latest', 'prod-b', 'production'] });
    standIn.clearRequests();
    expect(await admin().promote(2, 'production')).toEqual(['production already on version 2; unchanged']);
    expect(writes()).toEqual([]);
    expect(await admin().promote(1, 'staging')).toEqual(['added staging to version 1']);
  });

  it('refuses latest and reports a missing version', async () => {
    await expect(admin().promote(1, 'latest')).rejects.toThrow(/'latest' is assigned by Langfuse/);
    expect(writes()).toEqual([]);
    await expect(admin().promote(9, 'production')).rejects.toThrow(/^not found \(404\): /);
  });

  it('rolls a label back to the next lower version, and stops at the lowest', async () => {
    await admin().promote(2, 'production');
    expect(await admin().rollback('production')).toEqual(['rolled back production from version 2 to version 1']);
    expect(standIn.getPrompt(PROMPT_NAME, { label: 'production' })?.version).toBe(1);
    await expect(admin().rollback('production')).rejects.toThrow("cannot roll back production: it is on version 1, and 'order-status-answer' has no lower version.");
    await expect(admin().rollback('staging')).rejects.toThrow(/^not found \(404\): /);
    await expect(admin().rollback('latest')).rejects.toThrow(/'latest'/);
  });
});

describe('failures', () => {
  it('names the key variables on 401', async () => {
    await start();
    await expect(admin({ secretKey: 'sk-wrong' }).list()).rejects.toThrow(
      "Langfuse rejected the keys (401): Invalid credentials. Confirm that you've configured the correct host. Check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY.",
    );
  });

  it('names LANGFUSE_BASE_URL when the connection is refused', async () => {
    await start();
    await standIn.stopListening();
    await expect(admin().list()).rejects.toThrow(new RegExp(`^cannot reach Langfuse at ${standIn.baseUrl} .*Check LANGFUSE_BASE_URL`));
  });

  it('bounds each request with a timeout', async () => {
    await start();
    standIn.setFault('hang');
    const started = Date.now();
    await expect(admin({ requestTimeoutMs: 300 }).list()).rejects.toThrow(/did not answer \(list prompts \(page 1\)\) within 300 ms\. Check LANGFUSE_BASE_URL/);
    expect(Date.now() - started).toBeLessThan(3_000);
    standIn.setFault(null);
  });
});

describe('argument parsing', () => {
  it('parses each command', () => {
    expect(parseCommand(['seed'])).toEqual({ name: 'seed' });
    expect(parseCommand(['show'])).toEqual({ name: 'show', selector: { label: 'production' } });
    expect(parseCommand(['show', '--version', '2'])).toEqual({ name: 'show', selector: { version: 2 } });
    expect(parseCommand(['promote', '--version', '2', '--label', 'prod-b'])).toEqual({ name: 'promote', version: 2, label: 'prod-b', force: false, reason: '' });
    expect(parseCommand(['promote', '--version', '2', '--label', 'production', '--force', '--reason', ' hotfix '])).toEqual({
      name: 'promote',
      version: 2,
      label: 'production',
      force: true,
      reason: 'hotfix',
    });
    expect(parseCommand(['rollback', '--label', 'production'])).toEqual({ name: 'rollback', label: 'production', reason: '' });
    expect(parseCommand(['dataset', 'seed'])).toEqual({ name: 'dataset-seed' });
    expect(parseCommand(['eval', '--version', '2'])).toEqual({ name: 'eval', candidate: { version: 2 }, baselineLabel: 'production' });
    expect(parseCommand(['eval', '--label', 'staging', '--baseline-label', 'prod-a', '--run', 'r1'])).toEqual({
      name: 'eval',
      candidate: { label: 'staging' },
      baselineLabel: 'prod-a',
      candidateRun: 'r1',
    });
    expect(parseCommand(['history'])).toEqual({ name: 'history' });
    expect(parseCommand(['history', '--label', 'production'])).toEqual({ name: 'history', label: 'production' });
  });

  it.each([
    [['show', '--label', 'a', '--version', '1'], /not both/],
    [['promote', '--label', 'production'], /needs --version/],
    [['promote', '--version', 'x', '--label', 'production'], /positive integer/],
    [['rollback'], /needs --label/],
    [['seed', '--label', 'x'], /does not take --label/],
    [['deploy'], /unknown command 'deploy'/],
    [['list', '--bogus'], /Unknown option/],
    [['list', '--force'], /list does not take --force/],
    [['promote', '--version', '2', '--label', 'production', '--force'], /--force needs a non-empty --reason/],
    [['promote', '--version', '2', '--label', 'production', '--force', '--reason', '  '], /--force needs a non-empty --reason/],
    [['eval'], /eval takes --version N or --label L/],
    [['eval', '--version', '1', '--label', 'production'], /eval takes --version N or --label L/],
    [['eval', '--version', '1', '--force'], /eval does not take --force/],
    [['dataset'], /dataset needs a subcommand: dataset seed/],
    [['dataset', 'drop'], /unknown command 'dataset drop'/],
    [['history', '--version', '1'], /history does not take --version/],
    [[], /missing command/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(message);
  });

  it('needs both keys before talking to Langfuse', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const code = await run(['list'], { env: { LANGFUSE_BASE_URL: 'http://127.0.0.1:1' }, stdout: out, stderr: err });
    expect(code).toBe(1);
    expect(String(err.read())).toMatch(/LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY must both be set/);
  });
});

describe('the real CLI process', () => {
  /** `node --import tsx src/prompts/cli/prompts-cli.ts …` with only PATH and the Langfuse variables. */
  function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/prompts/cli/prompts-cli.ts', ...args], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          LANGFUSE_BASE_URL: standIn.baseUrl,
          LANGFUSE_PUBLIC_KEY: KEYS.publicKey,
          LANGFUSE_SECRET_KEY: KEYS.secretKey,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('seeds, then reports unchanged without writing', async () => {
    await start();
    const first = await cli(['seed']);
    expect(first).toMatchObject({ code: 0, stdout: 'created version 1 [production, prod-a]\ncreated version 2 [prod-b]\nupdated: 2 created, 0 relabelled\n' });
    standIn.clearRequests();
    const second = await cli(['seed']);
    expect(second).toMatchObject({ code: 0, stdout: 'labels ok on version 1 [production, prod-a]\nlabels ok on version 2 [prod-b]\nunchanged\n' });
    expect(writes()).toEqual([]);
    const list = await cli(['list']);
    expect(list.stdout.split('\n')[0]).toBe('order-status-answer v1  production,prod-a  Initial order-status answer prompt');
  });

  it('exits 1 with the 401 message and prints no secret', async () => {
    await start();
    const res = await cli(['list'], { LANGFUSE_SECRET_KEY: 'sk-lf-wrong-secret' });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('Langfuse rejected the keys (401): ');
    expect(res.stderr).toContain('Check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY.');
    expect(res.stderr).not.toContain('sk-lf-wrong-secret');
  });

  it('prints usage on stderr and exits 2 for --help, unknown commands and bad options', async () => {
    await start();
    for (const args of [['--help'], ['deploy'], ['show', '--label', 'production', '--version', '1']]) {
      const res = await cli(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('usage: npm run prompts -- <command>');
    }
    expect(standIn.requests).toEqual([]);
  });
});
