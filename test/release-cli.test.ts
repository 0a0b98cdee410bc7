/**
 * The release commands as a user runs them: `npm run prompts -- …` child processes against the
 * Langfuse stand-in (prompts + datasets), an OTLP receiver and, where a real model is needed, the
 * OpenAI stand-in. stdout is checked exactly (the gate JSON is the last line), labels in the
 * stand-in are checked after every refusal, and every move leaves its audit trace and log line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../src/release/dataset.js';
import { PROMPT_NAME } from '../src/prompts/prompt-template.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { uselessFor, verboseFor } from './support/openai-answer-modes.js';
import { startOpenAIStandIn, type OpenAIStandIn } from './support/openai-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';

// Each test runs one to five `npm run prompts` processes on a shared, loaded machine.
vi.setConfig({ testTimeout: 120_000 });

const KEYS = { publicKey: 'pk-lf-release', secretKey: 'sk-lf-release' };
const ITEMS = loadDataset('evals/order-status-regression.jsonl');
const V2_MARKER = 'none of the policy documents covers it';
/** A version added by a test whose system message makes the model stand-in answer at length. */
const VERBOSE_MARKER = 'Explain everything in great detail.';

let langfuse: LangfuseStandIn;
let otlp: OtlpReceiver;
let openai: OpenAIStandIn;
let dir: string;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  openai = await startOpenAIStandIn({ answer: uselessFor(V2_MARKER, verboseFor(VERBOSE_MARKER)) });
});
afterAll(async () => Promise.all([otlp.close(), openai.close()]));
beforeEach(async () => {
  langfuse = await startSeededLangfuse(KEYS.publicKey, KEYS.secretKey);
  dir = mkdtempSync(join(tmpdir(), 'release-cli-'));
  otlp.reset();
});
afterEach(async () => langfuse.close());

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: string[];
  gate: Record<string, unknown> | undefined;
}

const logFile = () => join(dir, 'releases.jsonl');

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    LANGFUSE_PUBLIC_KEY: KEYS.publicKey,
    LANGFUSE_SECRET_KEY: KEYS.secretKey,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    PROMPT_RELEASE_LOG: logFile(),
    PROMPT_RELEASE_ACTOR: 'release-tester',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** `npm run prompts -- <args>`, in its own process group (so a test can Ctrl-C the group). */
function prompts(args: string[], extra: Record<string, string> = {}, onStart?: (pid: number) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'prompts', '--', ...args], { env: baseEnv(extra), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('spawn', () => onStart?.(child.pid as number));
    child.on('close', (code, signal) => {
      const lines = stdout.trimEnd().split('\n');
      let gate: Record<string, unknown> | undefined;
      try {
        const last = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
        if ('release_gate' in last) gate = last;
      } catch {
        gate = undefined;
      }
      resolve({ code, signal, stdout, stderr, lines, gate });
    });
  });
}

const labels = (): Record<number, string[]> => Object.fromEntries(langfuse.versions(PROMPT_NAME).map((v) => [v.version, [...v.labels].sort()]));
const SEEDED = { 1: ['prod-a', 'production'], 2: ['latest', 'prod-b'] };
const auditLines = (): Record<string, unknown>[] =>
  existsSync(logFile()) ? readFileSync(logFile(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
const realModel = { OPENAI_API_KEY: 'sk-test-stand-in', OPENAI_BASE_URL: '', OPENAI_MAX_RETRIES: '0' };
const useless = () => ({ ...realModel, OPENAI_BASE_URL: openai.baseURL });

describe('dataset seed', () => {
  it('creates the dataset and upserts every item, idempotently, with the exact output', async () => {
    const expected = ['dataset ready: order-status-regression', ...ITEMS.map((i) => `dataset item ready: ${i.id}`)].join('\n') + '\n';
    const first = await prompts(['dataset', 'seed']);
    expect(first).toMatchObject({ code: 0, stdout: expected });
    const second = await prompts(['dataset', 'seed']);
    expect(second).toMatchObject({ code: 0, stdout: expected });
    const datasets = langfuse.datasets;
    expect([...(datasets?.datasets.keys() ?? [])]).toEqual(['order-status-regression']);
    expect(datasets?.items.size).toBe(ITEMS.length);
    expect(datasets?.items.get('order-status-other-user-7001-eu-v1')).toMatchObject({
      input: { order_reference: 'ORDER-7001', user_id: 'usr_eval_intruder_01' },
      expectedOutput: { outcome: 'escalated', must_not_mention: expect.arrayContaining(['in transit']) },
      metadata: { risk: 'high', source: 'spec-2:authorization-boundary', rubric: 'order-status-regression-v1' },
    });
  });

  it('refuses a malformed dataset line, naming the line and field, and sends nothing', async () => {
    const bad = join(dir, 'bad.jsonl');
    const lines = readFileSync('evals/order-status-regression.jsonl', 'utf8').trim().split('\n');
    lines[2] = lines[2]?.replace('"risk": "low"', '"risk": "extreme"') ?? '';
    writeFileSync(bad, `${lines.join('\n')}\n`);
    for (const args of [['dataset', 'seed'], ['eval', '--version', '2'], ['promote', '--version', '2', '--label', 'production']]) {
      const res = await prompts(args, { RELEASE_DATASET_FILE: bad });
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(`${bad}:3: metadata.risk: `);
    }
    expect(langfuse.requests).toEqual([]);
    expect(labels()).toEqual(SEEDED);
  });
});

describe('eval', () => {
  it('records both runs in Langfuse, traces every item with the experiment attributes, and ends with the gate JSON', async () => {
    const res = await prompts(['eval', '--version', '2']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.gate).toMatchObject({ candidate: { version: 2, run: 'order-status-v2-candidate' }, baseline: { label: 'production', version: 1, run: 'order-status-production-baseline' }, passed: true });
    const runs = langfuse.datasets?.runs ?? [];
    expect(runs.map((r) => r.name).sort()).toEqual(['order-status-production-baseline', 'order-status-v2-candidate']);
    const candidate = runs.find((r) => r.name === 'order-status-v2-candidate');
    expect(res.lines).toContain(
      `langfuse: run order-status-v2-candidate recorded (${ITEMS.length} items): ${langfuse.baseUrl}/project/stand-in-project/datasets/${candidate?.datasetId}/runs/${candidate?.id}`,
    );
    const runItems = (langfuse.datasets?.runItems ?? []).filter((ri) => ri.datasetRunId === candidate?.id);
    expect(runItems.map((ri) => ri.datasetItemId).sort()).toEqual(ITEMS.map((i) => i.id).sort());
    expect(candidate?.metadata).toMatchObject({ prompt_version: 2, role: 'candidate', model: 'offline', rubric: 'order-status-regression-v1' });

    // Each run item points at a trace that reached the Collector with the experiment attributes on every span.
    const item = runItems.find((ri) => ri.datasetItemId === 'order-status-delayed-eu-v1');
    const spans = await otlp.waitForSpans((all) => all.some((s) => s.traceId === item?.traceId && s.name === 'openai.responses.create'));
    const trace = spans.filter((s) => s.traceId === item?.traceId);
    expect(trace.find((s) => s.spanId === item?.observationId)?.name).toBe('experiment.item order-status-delayed-eu-v1');
    for (const span of trace) {
      expect(span.attributes, span.name).toMatchObject({
        'langfuse.experiment.name': 'order-status-v2-candidate',
        'langfuse.experiment.item.id': 'order-status-delayed-eu-v1',
        'langfuse.experiment.id': candidate?.id,
        'langfuse.experiment.dataset.id': candidate?.datasetId,
      });
    }
    expect(trace.find((s) => s.name === 'openai.responses.create')?.attributes).toMatchObject({ 'langfuse.observation.prompt.name': PROMPT_NAME, 'langfuse.observation.prompt.version': 2 });

    // The evaluator scores, through the score sink, on that trace and its root observation.
    const scores = [...langfuse.quality.scores.values()].filter((s) => s.traceId === item?.traceId);
    expect(scores.map((s) => [s.name, s.dataType, s.value, s.comment, s.observationId, s.environment]).sort()).toEqual([
      ['expected_outcome', 'NUMERIC', 1, 'rubric=order-status-regression-v1', item?.observationId, 'sdk-experiment'],
      ['forbidden_terms_absent', 'NUMERIC', 1, 'rubric=order-status-regression-v1', item?.observationId, 'sdk-experiment'],
      ['required_terms_present', 'NUMERIC', 1, 'rubric=order-status-regression-v1', item?.observationId, 'sdk-experiment'],
    ]);
    expect(langfuse.quality.scores.size).toBe(ITEMS.length * 2 * 3);
    expect(res.lines).toContain(`langfuse: ${ITEMS.length * 2 * 3} evaluator scores sent on the item traces`);
    expect(labels()).toEqual(SEEDED);
  });

  it("treats Langfuse v4's 404 on dataset run items as expected, not as an error", async () => {
    langfuse.datasets?.setRunItemsMode('v4');
    const res = await prompts(['eval', '--version', '2']);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.lines).toContain('langfuse: run order-status-v2-candidate recorded as an experiment through span attributes (Langfuse v4 answers 404 to dataset run items, as expected)');
    expect(langfuse.requests.some((r) => r.path === '/api/public/dataset-run-items' && r.status === 404)).toBe(true);
    expect(langfuse.datasets?.runItems).toEqual([]);
  });

  it('still evaluates and prints the gate when the Langfuse dataset API is unreachable, saying the run was not recorded', async () => {
    langfuse.setFault('reset', { paths: /dataset/ });
    const res = await prompts(['eval', '--version', '2']);
    expect(res.code).toBe(0);
    expect(res.gate?.passed).toBe(true);
    expect(res.lines.at(-2)).toMatch(/^langfuse: NOT recorded in Langfuse \(cannot reach Langfuse at .*\); the gate above was evaluated locally$/);
    expect(langfuse.datasets?.runItems).toEqual([]);
  });

  it('prices a real model from the catalog: a useful version passes, a version that makes answers much longer fails on cost alone', async () => {
    const same = await prompts(['eval', '--label', 'prod-a'], useless());
    expect(same.code).toBe(0);
    const cost = same.gate?.cost_per_case as { candidate: number; baseline: number };
    expect(cost.candidate).toBeGreaterThan(0);
    expect(cost.candidate).toBe(cost.baseline);

    const v1 = langfuse.versions(PROMPT_NAME)[0];
    const prompt = JSON.parse(JSON.stringify(v1?.prompt)) as { role: string; content: string }[];
    (prompt[0] as { content: string }).content += ` ${VERBOSE_MARKER}`;
    langfuse.createPrompt({ name: PROMPT_NAME, type: 'chat', prompt, config: v1?.config, labels: ['staging'] });
    const verbose = await prompts(['eval', '--label', 'staging'], useless());
    expect(verbose.code).toBe(1);
    expect(verbose.gate?.scores).toEqual({ expected_outcome: 1, forbidden_terms_absent: 1, required_terms_present: 1 });
    expect(verbose.gate?.failures).toEqual([{ item: '*', score: 'cost_per_case', comment: expect.stringMatching(/^candidate=\d+\.\d{6},limit=\d+\.\d{6} \(1\.10 x baseline \d+\.\d{6}\)$/) }]);
    const verboseCost = verbose.gate?.cost_per_case as { candidate: number; baseline: number };
    expect(verboseCost.candidate).toBeGreaterThan(verboseCost.baseline * 1.1);
    expect(verboseCost.baseline).toBe(cost.baseline);
  });

  it('exits 1 when the gate fails: a model that answers uselessly for version 2', async () => {
    const res = await prompts(['eval', '--version', '2'], useless());
    expect(res.code).toBe(1);
    expect(res.gate?.passed).toBe(false);
    expect(res.gate?.failures).toContainEqual({ item: 'order-status-owner-7001-eu-v1', score: 'required_terms_present', comment: 'missing_terms=in transit' });
    expect(res.lines).toContain('gate: FAILED');
    const failed = [...langfuse.quality.scores.values()].filter((s) => s.name === 'required_terms_present' && s.value === 0);
    expect(failed.map((s) => s.comment)).toContain('missing_terms=in transit');
  });
});

describe('promote', () => {
  it('refuses a version that breaks the variable contract, for any label, naming the variables; nothing moves', async () => {
    const v2 = langfuse.versions(PROMPT_NAME)[1];
    const content = JSON.stringify(v2?.prompt).replace('{{memory_record_types}}', '{{customer_email}}');
    langfuse.createPrompt({ name: PROMPT_NAME, type: 'chat', prompt: JSON.parse(content) as never, labels: [] });
    const before = labels();
    for (const label of ['production', 'prod-b']) {
      const res = await prompts(['promote', '--version', '3', '--label', label]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(
        `refusing to promote version 3 to ${label}: it does not match the variable contract (missing variables: memory_record_types; unexpected variables: customer_email). Nothing was moved.`,
      );
    }
    expect(labels()).toEqual(before);
    expect(auditLines()).toEqual([]);
  });

  it('refuses a version that does not exist, and --force without a reason; nothing moves', async () => {
    const missing = await prompts(['promote', '--version', '9', '--label', 'production']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not found (404): Prompt not found: 'order-status-answer' with version 9");
    for (const reason of [[], ['--reason', '   ']]) {
      const res = await prompts(['promote', '--version', '2', '--label', 'production', '--force', ...reason]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--force needs a non-empty --reason');
    }
    expect(labels()).toEqual(SEEDED);
    expect(auditLines()).toEqual([]);
  });

  it('runs the gate for a protected label and refuses when it fails; nothing moves', async () => {
    const res = await prompts(['promote', '--version', '2', '--label', 'production'], useless());
    expect(res.code).toBe(1);
    expect(res.gate).toMatchObject({ candidate: { version: 2 }, baseline: { label: 'production', version: 1 }, passed: false });
    expect(res.lines.at(-2)).toBe('refusing to promote: the release gate failed; production stays on version 1. Fix the candidate, or override with --force --reason "…" (recorded).');
    expect(labels()).toEqual(SEEDED);
    expect(auditLines()).toEqual([]);
  });

  it('moves a protected label when the gate passes, audited as passed', async () => {
    const res = await prompts(['promote', '--version', '2', '--label', 'production', '--reason', 'clearer escalations']);
    expect(res.code).toBe(0);
    expect(res.gate?.passed).toBe(true);
    expect(res.lines.at(-2)).toBe('moved production from version 1 to version 2 (gate passed)');
    expect(labels()).toEqual({ 1: ['prod-a'], 2: ['latest', 'prod-b', 'production'] });
    const [line] = auditLines();
    expect(line).toMatchObject({
      prompt_name: PROMPT_NAME,
      label: 'production',
      from_version: 1,
      to_version: 2,
      gate: 'passed',
      reason: 'clearer escalations',
      actor: 'release-tester',
      gate_run: 'order-status-v2-candidate',
      gate_result: { passed: true, failures: 0, baseline_version: 1 },
    });
    const spans = await otlp.waitForSpans((all) => all.some((s) => s.name === 'prompt.release production'));
    const release = spans.find((s) => s.name === 'prompt.release production');
    expect(release?.traceId).toBe(line?.trace_id);
    expect(release?.parentSpanId).toBeUndefined();
    expect(release?.attributes).toMatchObject({
      'langfuse.trace.name': 'prompt-release',
      'app.release.prompt_name': PROMPT_NAME,
      'app.release.label': 'production',
      'app.release.from_version': 1,
      'app.release.to_version': 2,
      'app.release.gate': 'passed',
      'app.release.reason': 'clearer escalations',
      'app.release.actor': 'release-tester',
      'app.release.gate_run': 'order-status-v2-candidate',
    });
    expect(release?.attributeTypes['app.release.to_version']).toBe('int');
  });

  it('moves on --force with a reason when the gate fails, audited as forced with what was overridden', async () => {
    const res = await prompts(['promote', '--version', '2', '--label', 'production', '--force', '--reason', 'hotfix approved by on-call'], useless());
    expect(res.code).toBe(0);
    expect(res.gate?.passed).toBe(false);
    expect(res.lines.at(-2)).toBe('moved production from version 1 to version 2 (gate FAILED, forced by release-tester: hotfix approved by on-call)');
    expect(labels()[2]).toContain('production');
    expect(auditLines()).toEqual([expect.objectContaining({ gate: 'forced', reason: 'hotfix approved by on-call', gate_result: expect.objectContaining({ passed: false }) })]);
    const spans = await otlp.waitForSpans((all) => all.some((s) => s.name === 'prompt.release production'));
    expect(spans.find((s) => s.name === 'prompt.release production')?.attributes).toMatchObject({ 'app.release.gate': 'forced', 'app.release.reason': 'hotfix approved by on-call' });
  });

  it('moves an unprotected label without a gate (not_required); rollback is never gated (rollback); history lists them newest first', async () => {
    const moved = await prompts(['promote', '--version', '1', '--label', 'prod-b']);
    expect(moved).toMatchObject({ code: 0, stdout: 'moved prod-b from version 2 to version 1 (prod-b is not protected: no gate)\n' });
    const promoted = await prompts(['promote', '--version', '2', '--label', 'production']);
    expect(promoted.code).toBe(0);
    // The rollback needs no model and no dataset: even a broken dataset file cannot block it.
    const rolled = await prompts(['rollback', '--label', 'production', '--reason', 'support tickets up'], { ...useless(), RELEASE_DATASET_FILE: join(dir, 'missing.jsonl') });
    expect(rolled).toMatchObject({ code: 0, stdout: 'rolled back production from version 2 to version 1\n' });
    expect(labels()[1]).toContain('production');
    expect(auditLines().map((l) => [l.label, l.gate, l.from_version, l.to_version])).toEqual([
      ['prod-b', 'not_required', 2, 1],
      ['production', 'passed', 1, 2],
      ['production', 'rollback', 2, 1],
    ]);
    const spans = await otlp.waitForSpans((all) => all.filter((s) => s.name.startsWith('prompt.release ')).length === 3);
    expect(spans.filter((s) => s.name.startsWith('prompt.release ')).map((s) => s.attributes['app.release.gate'])).toEqual(expect.arrayContaining(['not_required', 'passed', 'rollback']));
    expect(spans.find((s) => s.attributes['app.release.gate'] === 'rollback')?.attributes['app.release.gate_run']).toBeUndefined();

    const history = await prompts(['history']);
    expect(history.code).toBe(0);
    const rows = history.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^\S+Z {2}order-status-answer {2}production {2}v2 -> v1 {2}gate=rollback {2}actor=release-tester {2}reason="support tickets up"$/);
    expect(rows[1]).toMatch(/ {2}production {2}v1 -> v2 {2}gate=passed {2}actor=release-tester {2}run=order-status-v2-candidate$/);
    expect(rows[2]).toMatch(/ {2}prod-b {2}v2 -> v1 {2}gate=not_required {2}actor=release-tester$/);
    const onlyProdB = await prompts(['history', '--label', 'prod-b']);
    expect(onlyProdB.stdout.trimEnd().split('\n')).toEqual([rows[2]]);
  });

  it('moves nothing on Ctrl-C during the gate, and flushes the spans it made', async () => {
    openai.setLatencyMs(400);
    try {
      const res = await prompts(['promote', '--version', '2', '--label', 'production'], { ...useless(), RELEASE_EVAL_CONCURRENCY: '1' }, (pid) => {
        // Once the gate is running (its first item's spans arrived), Ctrl-C as a terminal does: the whole process group.
        void otlp.waitForSpans((all) => all.some((s) => s.name.startsWith('experiment.item ')), 30_000).then(() => process.kill(-pid, 'SIGINT'));
      });
      // npm re-raises the signal on itself once the script has exited (130): a shell sees 130 either way.
      expect(res.code === 130 || res.signal === 'SIGINT', `code ${res.code} signal ${res.signal}`).toBe(true);
      expect(res.stderr).toContain('interrupted: the evaluation stopped and no label was moved');
      expect(res.gate).toBeUndefined();
    } finally {
      openai.setLatencyMs(0);
    }
    expect(labels()).toEqual(SEEDED);
    expect(auditLines()).toEqual([]);
    // The item cut short by Ctrl-C ended its span at that moment: it reached the receiver, so the exit flushed.
    expect(otlp.spans.some((s) => s.name.startsWith('experiment.item ') && s.attributes['error.type'] === 'AbortError')).toBe(true);
  });
});
