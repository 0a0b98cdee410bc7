/**
 * `eval` in-process through the CLI's own `run()`: every dataset item through the real agent
 * (graph, resolver, model call path), pinned prompt versions, the experiment's spans, bounded
 * concurrency, per-item timeouts and Ctrl-C.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/prompts/cli/prompts-cli.js';
import { loadDataset } from '../src/release/dataset.js';
import { uselessFor, USELESS_ANSWER } from './support/openai-answer-modes.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { parentId, testTracing } from './support/telemetry.js';

const tracing = testTracing();
const ITEMS = loadDataset('evals/order-status-regression.jsonl');
/** Only version 2 of the shipped prompt says this in its system message. */
const V2_MARKER = 'none of the policy documents covers it';

/** Six items of the repo dataset (four answers, two escalations), for the slow-model tests. */
function smallDataset(): string {
  const dir = mkdtempSync(join(tmpdir(), 'release-eval-'));
  const path = join(dir, 'small.jsonl');
  const lines = readFileSync('evals/order-status-regression.jsonl', 'utf8').trim().split('\n');
  const wanted = ['order-status-processing-eu-v1', 'order-status-processing-uk-v1', 'order-status-processing-us-v1', 'order-status-delayed-eu-v1', 'order-status-missing-404-eu-v1', 'order-status-other-user-7001-eu-v1'];
  writeFileSync(path, `${lines.filter((l) => wanted.some((id) => l.includes(`"${id}"`))).join('\n')}\n`);
  return path;
}

interface Result {
  code: number;
  stdout: string[];
  stderr: string;
  gate: Record<string, unknown>;
}

async function evalCli(args: string[], env: Record<string, string> = {}, signal?: AbortSignal): Promise<Result> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await run(['eval', ...args], { env: { LOG_LEVEL: 'warn', ...env }, stdout: out, stderr: err, tracer: tracing.tracer, ...(signal ? { signal } : {}) });
  const lines = stdout.trimEnd().split('\n');
  let gate: Record<string, unknown> = {};
  try {
    gate = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  } catch {
    /* not a gate */
  }
  return { code, stdout: lines, stderr, gate };
}

beforeEach(() => tracing.reset());

describe('with the offline model and the local prompt file (CI)', () => {
  it('passes on the shipped production prompt, and prints the table then the gate JSON last', async () => {
    const res = await evalCli(['--label', 'production']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.gate).toEqual({
      release_gate: 'order-status-regression-v1',
      dataset: 'order-status-regression',
      candidate: { version: 1, run: 'order-status-v1-candidate' },
      baseline: { label: 'production', version: 1, run: 'order-status-production-baseline' },
      passed: true,
      required_scores: ['expected_outcome', 'forbidden_terms_absent', 'required_terms_present'],
      scores: { expected_outcome: 1, forbidden_terms_absent: 1, required_terms_present: 1 },
      cost_per_case: { candidate: 0, baseline: 0 },
      failures: [],
    });
    expect(res.stdout[0]).toBe(`release gate order-status-regression-v1: dataset order-status-regression, ${ITEMS.length} items`);
    expect(res.stdout).toContain('gate: PASSED');
    expect(res.stdout).toContain('langfuse: not recorded (no Langfuse keys: evaluated locally with the local prompt source)');
  });

  it("prints exactly the README's example for eval --version 2", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const example = /prints:\n\n```text\n([\s\S]*?)\n```/.exec(readme.slice(readme.indexOf('## Releasing a prompt')))?.[1];
    const res = await evalCli(['--version', '2']);
    expect(res.stdout.join('\n')).toBe(example);
  });

  it("traces each item's run with the experiment attributes on every span", async () => {
    const res = await evalCli(['--version', '2']);
    expect(res.code).toBe(0);
    const spans = tracing.spans();
    const roots = spans.filter((s) => s.name.startsWith('experiment.item '));
    expect(roots).toHaveLength(ITEMS.length * 2);
    const root = roots.find((s) => s.name === 'experiment.item order-status-owner-7001-eu-v1' && s.attributes['langfuse.experiment.name'] === 'order-status-v2-candidate');
    expect(root).toBeDefined();
    const trace = spans.filter((s) => s.spanContext().traceId === root?.spanContext().traceId);
    expect(trace.map((s) => s.name)).toEqual(expect.arrayContaining(['invoke_agent order-status', 'workflow.node compose_answer', 'openai.responses.create']));
    for (const span of trace) {
      expect(span.attributes, span.name).toMatchObject({
        'langfuse.experiment.name': 'order-status-v2-candidate',
        'langfuse.experiment.item.id': 'order-status-owner-7001-eu-v1',
        'langfuse.experiment.item.root_observation_id': root?.spanContext().spanId,
        'langfuse.environment': 'sdk-experiment',
        'langfuse.trace.name': 'release-eval',
        'langfuse.user.id': 'usr_owner_7001',
      });
    }
    expect(parentId(trace.find((s) => s.name === 'invoke_agent order-status') as (typeof trace)[number])).toBe(root?.spanContext().spanId);
    expect(root?.attributes).toMatchObject({
      'app.eval.role': 'candidate',
      'app.eval.prompt.version': 2,
      'app.eval.outcome': 'answer',
      'app.eval.passed': true,
      'app.eval.score.required_terms_present': 1,
    });
    // Priced by the model-call path itself, from the same catalog the gate uses (the offline model costs nothing).
    expect(trace.find((s) => s.name === 'openai.responses.create')?.attributes).toMatchObject({ 'app.cost.amount': 0, 'app.cost.currency': 'USD' });
    // The pinned version really was the one run: compose_answer reports it.
    expect(trace.find((s) => s.name === 'workflow.node compose_answer')?.attributes['app.prompt.version']).toBe(2);
  });

  it('refuses a version or label that does not exist, naming it', async () => {
    expect(await evalCli(['--version', '9'])).toMatchObject({ code: 1, stderr: expect.stringContaining('version 9 of order-status-answer does not exist (local prompt source)') });
    expect(await evalCli(['--label', 'staging'])).toMatchObject({ code: 1, stderr: expect.stringContaining("label 'staging' is on no version of order-status-answer") });
    expect(await evalCli(['--version', '2', '--baseline-label', 'nope'])).toMatchObject({ code: 1, stderr: expect.stringContaining("baseline label 'nope' is on no version") });
    expect(tracing.spans()).toEqual([]);
  });
});

describe('with a model that answers uselessly for prompt version 2', () => {
  let openai: OpenAIStandIn;
  beforeAll(async () => {
    openai = await startOpenAIStandIn({ answer: uselessFor(V2_MARKER) });
  });
  afterAll(async () => {
    await openai.close();
  });
  const model = () => ({ OPENAI_API_KEY: 'sk-test-stand-in', OPENAI_BASE_URL: openai.baseURL, OPENAI_MAX_RETRIES: '0' });

  it('fails the gate for version 2, naming each item whose answer lacks its required terms', async () => {
    const res = await evalCli(['--version', '2'], model());
    expect(res.code).toBe(1);
    expect(res.gate.passed).toBe(false);
    const failures = res.gate.failures as { item: string; score: string; comment: string }[];
    const answerItems = ITEMS.filter((i) => i.expected_output.outcome === 'answer');
    expect(failures.filter((f) => f.score === 'required_terms_present').map((f) => f.item).sort()).toEqual(answerItems.map((i) => i.id).sort());
    expect(failures).toContainEqual({ item: 'order-status-processing-eu-v1', score: 'required_terms_present', comment: 'missing_terms=processing' });
    expect((res.gate.scores as Record<string, number>).required_terms_present).toBeCloseTo((ITEMS.length - answerItems.length) / ITEMS.length);
    expect(res.stdout).toContain('gate: FAILED');
    // The model really was asked: the useless answer came from the stand-in for version 2's system message.
    const v2Requests = openai.requests.filter((r) => JSON.stringify(r.body).includes(V2_MARKER));
    expect(v2Requests.length).toBe(answerItems.length);
    expect(tracing.spans().some((s) => s.attributes['langfuse.observation.output']?.toString().includes(USELESS_ANSWER))).toBe(true);
  });

  it('bounds concurrency and times out slow items without crashing', async () => {
    openai.clearRequests();
    openai.setLatencyMs(400);
    try {
      const res = await evalCli(['--version', '1'], { ...model(), RELEASE_DATASET_FILE: smallDataset(), RELEASE_EVAL_CONCURRENCY: '2', RELEASE_EVAL_ITEM_TIMEOUT_MS: '150' });
      expect(res.code).toBe(1);
      const failures = res.gate.failures as { item: string; score: string; comment: string }[];
      expect(failures).toContainEqual({ item: 'order-status-processing-eu-v1', score: 'expected_outcome', comment: 'expected=answer,actual=error:TimeoutError' });
      // Escalations make no model call and still pass.
      expect(failures.some((f) => f.item === 'order-status-missing-404-eu-v1')).toBe(false);
      expect(openai.stats().maxInFlight).toBe(2);
    } finally {
      openai.setLatencyMs(0);
    }
  });

  it('stops on Ctrl-C: exit 130, no gate', async () => {
    openai.clearRequests();
    openai.setLatencyMs(300);
    try {
      const interrupt = new AbortController();
      const pending = evalCli(['--version', '2'], { ...model(), RELEASE_EVAL_CONCURRENCY: '1' }, interrupt.signal);
      setTimeout(() => interrupt.abort(), 100);
      const res = await pending;
      expect(res.code).toBe(130);
      expect(res.stderr).toContain('interrupted: the evaluation stopped and no label was moved');
      expect(res.stdout.join('\n')).not.toContain('release_gate');
      expect(openai.stats().total).toBeLessThan(3);
    } finally {
      openai.setLatencyMs(0);
    }
  });
});
