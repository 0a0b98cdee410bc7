import { numberOf, type LangfuseMetrics, type MetricsQuery, type MetricsRow } from './langfuse-metrics.js';
import { verdictFor, votesPerLabelNeeded, wilsonInterval, type Difference, type Interval, type VerdictResult } from './proportions.js';

/** Quality and cost of each prompt version, from Langfuse's metrics API (`npm run prompts -- compare`). */

export interface CompareOptions {
  promptName: string;
  environment: string;
  from: Date;
  to: Date;
  /** Baseline label, then candidate label: adds the verdict. */
  labels?: readonly [string, string];
  /** Fewer votes than this on either label: no verdict but "wait for more votes". */
  minVotes: number;
}

export interface PromptVersions {
  /** Labels each version holds now. */
  labelsOf(versions: readonly number[]): Promise<Map<number, string[]>>;
  /** The version holding `label` now, or undefined. */
  versionOf(label: string): Promise<number | undefined>;
}

export interface VersionFigures {
  version: number;
  labels: string[];
  generations: number;
  latencyMs: { p50?: number; p95?: number };
  tokens: { inputMean?: number; outputMean?: number };
  costUsd?: number;
  feedback: { positive: number; negative: number; votes: number; share?: number; ci95?: Interval };
  answerCorrectness: { mean?: number; count: number };
  policyCompliance: { pass: number; fail: number };
}

export interface ComparisonVerdict {
  result: VerdictResult;
  baseline: { label: string; version: number };
  candidate: { label: string; version: number };
  /** Why no verdict could be `better` / `worse`, when that is the case. */
  reason?: 'same_version' | 'too_few_votes' | 'not_significant';
  difference?: Difference;
  /** Votes per label needed to see a difference as large as the observed one (80% power). */
  votesNeeded?: number;
}

export interface Comparison {
  prompt: string;
  environment: string;
  from: string;
  to: string;
  metricsApi: 'v2' | 'v1';
  minVotes: number;
  versions: VersionFigures[];
  verdict?: ComparisonVerdict;
}

export class CompareError extends Error {
  override name = 'CompareError';
}

const versionOfRow = (row: MetricsRow, field: string) => numberOf(row[field]);

export async function comparePromptVersions(metrics: LangfuseMetrics, prompts: PromptVersions, options: CompareOptions): Promise<Comparison> {
  const window = { fromTimestamp: options.from.toISOString(), toTimestamp: options.to.toISOString(), config: { row_limit: 1000 } };
  const env = { column: 'environment', operator: '=', value: options.environment, type: 'string' };
  const scoreFilters = (names: string[]) => [
    { column: 'observationPromptName', operator: '=', value: options.promptName, type: 'string' },
    { column: 'name', operator: 'any of', value: names, type: 'stringOptions' },
    env,
  ];
  const generationsQuery: MetricsQuery = {
    view: 'observations',
    dimensions: [{ field: 'promptVersion' }],
    metrics: [
      { measure: 'count', aggregation: 'count' },
      { measure: 'latency', aggregation: 'p50' },
      { measure: 'latency', aggregation: 'p95' },
      { measure: 'inputTokens', aggregation: 'avg' },
      { measure: 'outputTokens', aggregation: 'avg' },
      { measure: 'totalCost', aggregation: 'sum' },
    ],
    filters: [{ column: 'promptName', operator: '=', value: options.promptName, type: 'string' }, { column: 'type', operator: '=', value: 'GENERATION', type: 'string' }, env],
    ...window,
  };
  // Sequential: the first answer decides v2 or v1 for the rest.
  const generations = await metrics.query(generationsQuery);
  const categorical = await metrics.query({
    view: 'scores-categorical',
    dimensions: [{ field: 'observationPromptVersion' }, { field: 'name' }, { field: 'stringValue' }],
    metrics: [{ measure: 'count', aggregation: 'count' }],
    filters: scoreFilters(['user_feedback', 'policy_compliance']),
    ...window,
  });
  const numeric = await metrics.query({
    view: 'scores-numeric',
    dimensions: [{ field: 'observationPromptVersion' }, { field: 'name' }],
    metrics: [
      { measure: 'value', aggregation: 'avg' },
      { measure: 'count', aggregation: 'count' },
    ],
    filters: scoreFilters(['answer_correctness']),
    ...window,
  });

  const labelled = options.labels ? await Promise.all(options.labels.map(async (label) => ({ label, version: await prompts.versionOf(label) }))) : [];
  for (const { label, version } of labelled) {
    if (version === undefined) throw new CompareError(`no version of '${options.promptName}' holds label '${label}'`);
  }

  const figures = new Map<number, VersionFigures>();
  const at = (version: number): VersionFigures => {
    let f = figures.get(version);
    if (!f) {
      f = { version, labels: [], generations: 0, latencyMs: {}, tokens: {}, feedback: { positive: 0, negative: 0, votes: 0 }, answerCorrectness: { count: 0 }, policyCompliance: { pass: 0, fail: 0 } };
      figures.set(version, f);
    }
    return f;
  };
  for (const row of generations) {
    const version = versionOfRow(row, 'promptVersion');
    if (version === undefined) continue;
    const f = at(version);
    f.generations = numberOf(row.count_count) ?? 0;
    f.latencyMs = { p50: numberOf(row.p50_latency), p95: numberOf(row.p95_latency) };
    f.tokens = { inputMean: numberOf(row.avg_inputTokens), outputMean: numberOf(row.avg_outputTokens) };
    f.costUsd = numberOf(row.sum_totalCost);
  }
  for (const row of categorical) {
    const version = versionOfRow(row, 'observationPromptVersion');
    const count = numberOf(row.count_count) ?? 0;
    if (version === undefined) continue;
    const f = at(version);
    if (row.name === 'user_feedback') {
      if (row.stringValue === 'positive') f.feedback.positive += count;
      else if (row.stringValue === 'negative') f.feedback.negative += count;
    } else if (row.name === 'policy_compliance') {
      if (row.stringValue === 'fail') f.policyCompliance.fail += count;
      else if (row.stringValue === 'pass') f.policyCompliance.pass += count;
    }
  }
  for (const row of numeric) {
    const version = versionOfRow(row, 'observationPromptVersion');
    if (version === undefined || row.name !== 'answer_correctness') continue;
    at(version).answerCorrectness = { mean: numberOf(row.avg_value), count: numberOf(row.count_count) ?? 0 };
  }
  for (const { version } of labelled) at(version as number);

  const versions = [...figures.values()].sort((a, b) => a.version - b.version);
  const labels = await prompts.labelsOf(versions.map((v) => v.version));
  for (const f of versions) {
    f.labels = labels.get(f.version) ?? [];
    f.feedback.votes = f.feedback.positive + f.feedback.negative;
    if (f.feedback.votes > 0) {
      f.feedback.share = f.feedback.positive / f.feedback.votes;
      f.feedback.ci95 = wilsonInterval({ successes: f.feedback.positive, total: f.feedback.votes });
    }
  }

  const comparison: Comparison = {
    prompt: options.promptName,
    environment: options.environment,
    from: window.fromTimestamp,
    to: window.toTimestamp,
    metricsApi: metrics.endpoint ?? 'v2',
    minVotes: options.minVotes,
    versions,
  };
  const [baseline, candidate] = labelled as { label: string; version: number }[];
  if (baseline && candidate) comparison.verdict = verdict(baseline, candidate, figures, options.minVotes);
  return comparison;
}

function verdict(
  baseline: { label: string; version: number },
  candidate: { label: string; version: number },
  figures: Map<number, VersionFigures>,
  minVotes: number,
): ComparisonVerdict {
  if (baseline.version === candidate.version) return { result: 'no significant difference', baseline, candidate, reason: 'same_version' };
  const votes = (version: number) => {
    const f = figures.get(version)?.feedback;
    return { successes: f?.positive ?? 0, total: (f?.positive ?? 0) + (f?.negative ?? 0) };
  };
  const a = votes(baseline.version);
  const b = votes(candidate.version);
  const decided = verdictFor(a, b, minVotes);
  const out: ComparisonVerdict = { result: decided.result, baseline, candidate };
  if (decided.interval) out.difference = decided.interval;
  if (decided.result === 'no significant difference') {
    out.reason = decided.tooFewVotes ? 'too_few_votes' : 'not_significant';
    const needed = a.total > 0 && b.total > 0 ? votesPerLabelNeeded(a.successes / a.total, b.successes / b.total) : undefined;
    if (needed !== undefined) out.votesNeeded = Math.max(needed, minVotes);
  }
  return out;
}

// --- output ----------------------------------------------------------------------------------

const pct = (x: number | undefined, digits = 1) => (x === undefined ? '-' : `${(x * 100).toFixed(digits)}%`);
const num = (x: number | undefined, digits: number) => (x === undefined ? '-' : x.toFixed(digits));

/** The human table: a header line, one row per version, then the verdict line when labels were given. */
export function formatComparison(c: Comparison): string[] {
  const header = ['version', 'labels', 'generations', 'p50 ms', 'p95 ms', 'in tokens', 'out tokens', 'cost USD', 'positive', 'votes', '95% CI', 'correctness', 'policy fails'];
  const rows = c.versions.map((v) => [
    `v${v.version}`,
    v.labels.join(',') || '-',
    String(v.generations),
    num(v.latencyMs.p50, 0),
    num(v.latencyMs.p95, 0),
    num(v.tokens.inputMean, 1),
    num(v.tokens.outputMean, 1),
    num(v.costUsd, 6),
    pct(v.feedback.share),
    String(v.feedback.votes),
    v.feedback.ci95 ? `${pct(v.feedback.ci95.low)}-${pct(v.feedback.ci95.high)}` : '-',
    num(v.answerCorrectness.mean, 2),
    String(v.policyCompliance.fail),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ').trimEnd();
  const lines = [
    `prompt ${c.prompt}, environment ${c.environment}, ${c.from} to ${c.to} (Langfuse metrics API ${c.metricsApi})`,
    line(header),
    ...(rows.length ? rows.map(line) : ['(no generations or scores for this prompt in the window)']),
  ];
  if (c.verdict) lines.push(verdictLine(c));
  return lines;
}

function verdictLine(c: Comparison): string {
  const v = c.verdict as ComparisonVerdict;
  const name = (side: { label: string; version: number }) => `${side.label} (v${side.version})`;
  const subject = `${name(v.candidate)} vs ${name(v.baseline)}`;
  if (v.reason === 'same_version') return `verdict: no significant difference: ${v.candidate.label} and ${v.baseline.label} are both on version ${v.candidate.version}`;
  const fb = (version: number) => c.versions.find((x) => x.version === version)?.feedback;
  const share = (version: number) => {
    const f = fb(version);
    return f && f.votes > 0 ? `${pct(f.share)} (${f.positive}/${f.votes})` : 'no votes';
  };
  let text = `verdict: ${v.result}: ${subject}: positive ${share(v.candidate.version)} vs ${share(v.baseline.version)}`;
  if (v.difference) {
    const points = (x: number) => (x * 100).toFixed(1);
    text += `, difference ${points(v.difference.difference)} points (95% CI ${points(v.difference.low)} to ${points(v.difference.high)})`;
  }
  if (v.reason === 'too_few_votes') text += `; too few votes to decide (at least ${c.minVotes} per label)`;
  if (v.votesNeeded !== undefined) text += `; about ${v.votesNeeded} votes per label would show a difference this large`;
  return text;
}

/** `--json`: one object, stable field names (snake_case like the HTTP API). */
export function comparisonJson(c: Comparison): unknown {
  return {
    prompt: c.prompt,
    environment: c.environment,
    from: c.from,
    to: c.to,
    metrics_api: c.metricsApi,
    min_votes: c.minVotes,
    versions: c.versions.map((v) => ({
      version: v.version,
      labels: v.labels,
      generations: v.generations,
      latency_ms: { p50: v.latencyMs.p50 ?? null, p95: v.latencyMs.p95 ?? null },
      tokens: { input_mean: v.tokens.inputMean ?? null, output_mean: v.tokens.outputMean ?? null },
      cost_usd: v.costUsd ?? null,
      user_feedback: {
        positive: v.feedback.positive,
        negative: v.feedback.negative,
        votes: v.feedback.votes,
        positive_share: v.feedback.share ?? null,
        ci95: v.feedback.ci95 ? [v.feedback.ci95.low, v.feedback.ci95.high] : null,
      },
      answer_correctness: { mean: v.answerCorrectness.mean ?? null, count: v.answerCorrectness.count },
      policy_compliance: { pass: v.policyCompliance.pass, fail: v.policyCompliance.fail },
    })),
    ...(c.verdict
      ? {
          verdict: {
            result: c.verdict.result,
            baseline: c.verdict.baseline,
            candidate: c.verdict.candidate,
            reason: c.verdict.reason ?? null,
            difference: c.verdict.difference ? c.verdict.difference.difference : null,
            ci95: c.verdict.difference ? [c.verdict.difference.low, c.verdict.difference.high] : null,
            votes_needed: c.verdict.votesNeeded ?? null,
          },
        }
      : {}),
  };
}

/** `30m`, `24h`, `7d`, `2w` → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})([mhdw])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[match[2] as 'm' | 'h' | 'd' | 'w'];
  const ms = Number(match[1]) * unit;
  return ms > 0 ? ms : undefined;
}
