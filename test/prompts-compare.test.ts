import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { runNodeScript } from './support/processes.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { startServerProcess } from './support/server-process.js';

/**
 * `npm run prompts -- compare` on data the real service produced: an A/B split served by a
 * server process that exports its spans to the Langfuse stand-in (as the Collector would), real
 * feedback through POST /feedback, then the real CLI against the stand-in's metrics API, which
 * computes its views from those spans and scores.
 */
let langfuse: LangfuseStandIn;
const PK = 'pk-lf-compare';
const SK = 'sk-lf-compare';

beforeAll(async () => {
  langfuse = await startSeededLangfuse(PK, SK);
});
afterAll(() => langfuse.close());

interface Served {
  label: string;
  version: number;
  traceId: string;
}

/**
 * Serves `users` requests in `environment`, then rates each answer: a user on prod-a votes
 * positive with probability shareA (deterministically by index), on prod-b shareB.
 */
async function serveAndRate(environment: string, users: number, shareA: number, shareB: number): Promise<Served[]> {
  const server = await startServerProcess({
    LANGFUSE_PUBLIC_KEY: PK,
    LANGFUSE_SECRET_KEY: SK,
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    PROMPT_EXPERIMENT: 'prod-a=50,prod-b=50',
    DEPLOYMENT_ENVIRONMENT: environment,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${langfuse.baseUrl}/api/public/otel/v1/traces`,
    OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Basic ${Buffer.from(`${PK}:${SK}`).toString('base64')}`,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  });
  const served: Served[] = [];
  try {
    const counts: Record<string, number> = {};
    for (let i = 0; i < users; i++) {
      const userId = `usr_${environment}_${i}`;
      const res = await fetch(`${server.url}/order-status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: userId }),
      });
      const body = (await res.json()) as { trace_id: string; interaction_id: string; prompt: { label: string; version: number } };
      const n = (counts[body.prompt.label] = (counts[body.prompt.label] ?? 0) + 1);
      const share = body.prompt.label === 'prod-a' ? shareA : shareB;
      // The first share·n of every 10 votes are positive: exact shares, spread over time.
      const value = ((n - 1) % 10) < share * 10 ? 'positive' : 'negative';
      const fb = await fetch(`${server.url}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ interaction_id: body.interaction_id, user_id: userId, value }),
      });
      expect(fb.status).toBe(202);
      served.push({ label: body.prompt.label, version: body.prompt.version, traceId: body.trace_id });
    }
    // Everything reaches "Langfuse": spans through OTLP, scores through the sink.
    const traces = new Set(served.map((s) => s.traceId));
    await langfuse.quality.waitFor(
      () => [...traces].every((t) => langfuse.quality.scores.has(`${t}:user_feedback`) && langfuse.quality.scores.has(`${t}:answer_correctness`)),
      'all scores',
      30_000,
    );
    await langfuse.quality.waitFor(() => langfuse.quality.observations.filter((o) => traces.has(o.traceId) && o.promptName).length === users, 'all generations', 30_000);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  return served;
}

const compare = (args: string[], extraEnv: Record<string, string> = {}) =>
  runNodeScript('src/prompts/cli/prompts-cli.ts', ['compare', ...args], { LANGFUSE_PUBLIC_KEY: PK, LANGFUSE_SECRET_KEY: SK, LANGFUSE_BASE_URL: langfuse.baseUrl, ...extraEnv });

interface CompareJson {
  metrics_api: string;
  environment: string;
  versions: {
    version: number;
    labels: string[];
    generations: number;
    latency_ms: { p50: number | null; p95: number | null };
    user_feedback: { positive: number; negative: number; votes: number; positive_share: number; ci95: [number, number] };
    answer_correctness: { mean: number; count: number };
    policy_compliance: { pass: number; fail: number };
  }[];
  verdict?: { result: string; baseline: { label: string; version: number }; candidate: { label: string; version: number }; reason: string | null; ci95: [number, number] | null; votes_needed: number | null };
}

describe('npm run prompts -- compare', () => {
  let served: Served[];
  beforeAll(async () => {
    // prod-a (v1) 90% positive, prod-b (v2) 30%: a difference no sample of this size produces by chance.
    served = await serveAndRate('cmp-significant', 60, 0.9, 0.3);
  }, 180_000);

  it('prints one row per version with generations, latency, tokens, cost, feedback share and CI, checks; then a verdict', async () => {
    const result = await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-significant']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^prompt order-status-answer, environment cmp-significant, .* \(Langfuse metrics API v2\)$/);
    expect(lines[1]).toMatch(/^version\s+labels\s+generations\s+p50 ms\s+p95 ms\s+in tokens\s+out tokens\s+cost USD\s+positive\s+votes\s+95% CI\s+correctness\s+policy fails$/);
    const a = served.filter((s) => s.label === 'prod-a').length;
    const b = served.filter((s) => s.label === 'prod-b').length;
    expect(lines[2]).toMatch(new RegExp(`^v1\\s+production,prod-a\\s+${a}\\s`));
    expect(lines[3]).toMatch(new RegExp(`^v2\\s+prod-b(,latest)?\\s+${b}\\s`));
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^verdict: worse: prod-b \(v2\) vs prod-a \(v1\): positive \d+\.\d% \(\d+\/\d+\) vs \d+\.\d% \(\d+\/\d+\), difference -\d+\.\d points \(95% CI -\d+\.\d to -\d+\.\d\)$/);
  });

  it('--json carries the same figures for scripts', async () => {
    const result = await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-significant', '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as CompareJson;
    expect(json).toMatchObject({ metrics_api: 'v2', environment: 'cmp-significant' });
    const [v1, v2] = json.versions;
    const a = served.filter((s) => s.label === 'prod-a').length;
    const positivesA = Array.from({ length: a }, (_, i) => (i % 10 < 9 ? 1 : 0)).reduce<number>((x, y) => x + y, 0);
    expect(v1).toMatchObject({ version: 1, generations: a, user_feedback: { positive: positivesA, votes: a }, answer_correctness: { mean: 1, count: a }, policy_compliance: { pass: a, fail: 0 } });
    expect(v1?.labels).toEqual(expect.arrayContaining(['production', 'prod-a']));
    expect(v2).toMatchObject({ version: 2, generations: served.length - a, user_feedback: { votes: served.length - a } });
    expect(v1?.user_feedback.ci95[0]).toBeLessThan(v1?.user_feedback.positive_share as number);
    expect(v1?.user_feedback.ci95[1]).toBeGreaterThan(v1?.user_feedback.positive_share as number);
    expect(typeof v1?.latency_ms.p95).toBe('number');
    expect(json.verdict).toMatchObject({ result: 'worse', baseline: { label: 'prod-a', version: 1 }, candidate: { label: 'prod-b', version: 2 }, reason: null });
    expect(json.verdict?.ci95?.[1]).toBeLessThan(0);
  });

  it('reversed labels: better; too few votes for --min-votes: no significant difference, wait for more', async () => {
    const better = await compare(['--labels', 'prod-b,prod-a', '--environment', 'cmp-significant']);
    expect(better.stdout.trimEnd().split('\n').at(-1)).toMatch(/^verdict: better: prod-a \(v1\) vs prod-b \(v2\)/);
    const patient = await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-significant', '--min-votes', '500']);
    expect(patient.stdout.trimEnd().split('\n').at(-1)).toMatch(/^verdict: no significant difference: .*too few votes to decide \(at least 500 per label\)/);
  });

  it('without --labels: the table and no verdict; a label no version holds: exit 1', async () => {
    const plain = await compare(['--environment', 'cmp-significant']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('verdict:');
    const missing = await compare(['--labels', 'prod-a,prod-z', '--environment', 'cmp-significant']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no version of 'order-status-answer' holds label 'prod-z'");
    const same = await compare(['--labels', 'production,prod-a', '--environment', 'cmp-significant']);
    expect(same.stdout.trimEnd().split('\n').at(-1)).toBe('verdict: no significant difference: prod-a and production are both on version 1');
  });

  it('falls back to the v1 metrics API when v2 answers 404 (Langfuse v3), with the same figures', async () => {
    const v2 = JSON.parse((await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-significant', '--json'])).stdout) as CompareJson;
    langfuse.quality.setMetricsApi('v3');
    langfuse.quality.metricsRequests.length = 0;
    try {
      const result = await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-significant', '--json']);
      expect(result.code).toBe(0);
      const v1 = JSON.parse(result.stdout) as CompareJson;
      expect(v1.metrics_api).toBe('v1');
      expect({ ...v1, metrics_api: 'v2', from: undefined, to: undefined }).toEqual({ ...v2, from: undefined, to: undefined });
      // One 404 from v2, then every query on v1.
      expect(langfuse.quality.metricsRequests.map((r) => `${r.path} ${r.status}`)).toEqual([
        '/api/public/v2/metrics 404',
        '/api/public/metrics 200',
        '/api/public/metrics 200',
        '/api/public/metrics 200',
      ]);
    } finally {
      langfuse.quality.setMetricsApi('v4');
    }
  });

  it('on Langfuse v4 uses v2 only (v1 answers 404 there)', async () => {
    langfuse.quality.metricsRequests.length = 0;
    expect((await compare(['--environment', 'cmp-significant'])).code).toBe(0);
    expect(new Set(langfuse.quality.metricsRequests.map((r) => `${r.path} ${r.status}`))).toEqual(new Set(['/api/public/v2/metrics 200']));
  });

  it('only counts the window and the environment asked for', async () => {
    const other = JSON.parse((await compare(['--environment', 'nowhere', '--json'])).stdout) as CompareJson;
    expect(other.versions).toEqual([]);
    const defaultEnv = await compare(['--json'], { DEPLOYMENT_ENVIRONMENT: 'cmp-significant' });
    expect((JSON.parse(defaultEnv.stdout) as CompareJson).environment).toBe('cmp-significant');
    const recent = JSON.parse((await compare(['--since', '10m', '--environment', 'cmp-significant', '--json'])).stdout) as CompareJson;
    expect(recent.versions.reduce((n, v) => n + v.generations, 0)).toBe(served.length);
  });

  it('usage errors exit 2', async () => {
    for (const args of [['--since', 'yesterday'], ['--labels', 'prod-a'], ['--labels', 'a,b,c'], ['--min-votes', 'many'], ['--version', '2']]) {
      const result = await compare(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: npm run prompts');
    }
  });
});

describe('npm run prompts -- compare on a difference the votes cannot show', () => {
  it('says no significant difference and how many votes a difference this large would need', async () => {
    await serveAndRate('cmp-close', 50, 0.6, 0.5);
    const result = await compare(['--labels', 'prod-a,prod-b', '--environment', 'cmp-close', '--min-votes', '20']);
    expect(result.code).toBe(0);
    const verdict = result.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(verdict).toMatch(/^verdict: no significant difference: prod-b \(v2\) vs prod-a \(v1\): positive .*95% CI -\d+\.\d to \d+\.\d\); about \d+ votes per label would show a difference this large$/);
  }, 180_000);
});
