import { DATASET_NAME, RUBRIC, type DatasetItem } from './dataset.js';
import { REQUIRED_SCORES, type Evaluation, type EvaluatorName, type ItemOutput } from './evaluators.js';

/** The candidate may cost at most this much more per case than the baseline (book ch-22). */
export const COST_TOLERANCE = 1.1;

/** What one dataset item's run produced and how it scored. */
export interface ItemResult {
  item: DatasetItem;
  output: ItemOutput;
  evaluations: Evaluation[];
  /** The item's trace (undefined when tracing is off). */
  traceId?: string;
  /** USD for this item's model calls; null when a call could not be priced. */
  costUsd: number | null;
}

/** One experiment run: a prompt version over the whole dataset. */
export interface RunResult {
  runName: string;
  version: number;
  items: ItemResult[];
  /** Mean USD per dataset item (escalations cost nothing); null when any call was unpriced. */
  costPerCase: number | null;
  /** Why the cost is unknown, when it is. */
  costUnknownReason?: string;
}

export interface GateFailure {
  item: string;
  score: string;
  comment: string;
}

/** The gate as SPEC §10 prints it: key order and names are the contract. */
export interface GateReport {
  release_gate: string;
  dataset: string;
  candidate: { version: number; run: string };
  baseline: { label: string; version: number | null; run: string | null };
  passed: boolean;
  required_scores: EvaluatorName[];
  scores: Record<EvaluatorName, number>;
  cost_per_case: { candidate: number | null; baseline: number | null };
  failures: GateFailure[];
}

/** Mean of one evaluator over a run's items (an item without the score counts as 0: a missing evaluator fails). */
export function meanScore(run: RunResult, name: EvaluatorName): number {
  if (run.items.length === 0) return 0;
  const total = run.items.reduce((sum, r) => sum + (r.evaluations.find((e) => e.name === name)?.value ?? 0), 0);
  return total / run.items.length;
}

/** Mean USD per case, or null when any item's cost is unknown. */
export function costPerCase(items: readonly ItemResult[]): number | null {
  if (items.length === 0 || items.some((r) => r.costUsd === null)) return null;
  return roundUsd(items.reduce((sum, r) => sum + (r.costUsd as number), 0) / items.length);
}

/** Float noise off: a tenth of a nano-dollar is far below any bill. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e10) / 1e10;
}

/**
 * Passes when every required score's mean is 1.0 for the candidate AND its cost per case is at
 * most COST_TOLERANCE × the baseline's. Without a baseline (a protected label nobody holds yet)
 * only the scores decide. An unknown cost cannot be checked, so it fails.
 */
export function decideGate(candidate: RunResult, baseline: RunResult | undefined, baselineLabel: string): GateReport {
  const scores = Object.fromEntries(REQUIRED_SCORES.map((name) => [name, meanScore(candidate, name)])) as Record<EvaluatorName, number>;
  const failures: GateFailure[] = [];
  for (const result of candidate.items) {
    for (const name of REQUIRED_SCORES) {
      const evaluation = result.evaluations.find((e) => e.name === name);
      if (!evaluation) failures.push({ item: result.item.id, score: name, comment: 'missing_score' });
      else if (evaluation.value !== 1) failures.push({ item: result.item.id, score: name, comment: evaluation.comment });
    }
  }
  const costFailure = baseline ? checkCost(candidate, baseline) : undefined;
  if (costFailure) failures.push({ item: '*', score: 'cost_per_case', comment: costFailure });
  return {
    release_gate: RUBRIC,
    dataset: DATASET_NAME,
    candidate: { version: candidate.version, run: candidate.runName },
    baseline: { label: baselineLabel, version: baseline?.version ?? null, run: baseline?.runName ?? null },
    passed: failures.length === 0 && candidate.items.length > 0 && REQUIRED_SCORES.every((name) => scores[name] === 1),
    required_scores: [...REQUIRED_SCORES],
    scores,
    cost_per_case: { candidate: candidate.costPerCase, baseline: baseline?.costPerCase ?? null },
    failures,
  };
}

/** The cost rule's failure comment, or undefined when it holds. */
function checkCost(candidate: RunResult, baseline: RunResult): string | undefined {
  if (candidate.costPerCase === null) return `cost_unknown=candidate (${candidate.costUnknownReason ?? 'unpriced model call'})`;
  if (baseline.costPerCase === null) return `cost_unknown=baseline (${baseline.costUnknownReason ?? 'unpriced model call'})`;
  const limit = baseline.costPerCase * COST_TOLERANCE;
  // A relative epsilon: 1.1 × 0.001 must admit 0.0011 despite binary floating point.
  if (candidate.costPerCase <= limit * (1 + 1e-9)) return undefined;
  return `candidate=${usd(candidate.costPerCase)},limit=${usd(limit)} (${COST_TOLERANCE.toFixed(2)} x baseline ${usd(baseline.costPerCase)})`;
}

function usd(value: number): string {
  return value.toFixed(6);
}

/** The gate as one JSON line (the last stdout line of `eval` and gated `promote`). */
export function gateJson(report: GateReport): string {
  return JSON.stringify(report);
}

/** A readable summary: per evaluator candidate vs baseline, cost per case, the failing items. */
export function gateTable(report: GateReport, candidate: RunResult, baseline: RunResult | undefined): string[] {
  const pad = (text: string, width: number) => text.padEnd(width);
  const num = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(2));
  const cost = (value: number | null | undefined) => (value === undefined ? '-' : value === null ? 'unknown' : `$${usd(value)}`);
  const baselineTitle = baseline ? `v${baseline.version} (${report.baseline.label})` : `none (${report.baseline.label} unassigned)`;
  const lines = [
    `release gate ${report.release_gate}: dataset ${report.dataset}, ${candidate.items.length} items`,
    `candidate: v${candidate.version}, run ${candidate.runName}`,
    `baseline:  ${baselineTitle}${baseline ? `, run ${baseline.runName}` : ''}`,
    '',
    `${pad('score', 26)}${pad('candidate', 14)}baseline`,
  ];
  for (const name of REQUIRED_SCORES) {
    lines.push(`${pad(name, 26)}${pad(num(report.scores[name]), 14)}${num(baseline ? meanScore(baseline, name) : undefined)}`);
  }
  const limit = baseline?.costPerCase != null ? `  (limit ${cost(baseline.costPerCase * COST_TOLERANCE)})` : '';
  lines.push(`${pad('cost per case (USD)', 26)}${pad(cost(report.cost_per_case.candidate), 14)}${cost(baseline ? report.cost_per_case.baseline : undefined)}${limit}`);
  lines.push('');
  if (report.failures.length === 0) lines.push('failures: none');
  else {
    lines.push(`failures (${report.failures.length}):`);
    for (const f of report.failures) lines.push(`  ${f.item}  ${f.score}  ${f.comment}`);
  }
  if (baseline) {
    const failing = baseline.items.filter((r) => r.evaluations.some((e) => e.value !== 1)).map((r) => r.item.id);
    // The baseline does not gate, but a case today's version fails is worth knowing about.
    if (failing.length > 0) lines.push(`baseline fails ${failing.length} item(s) too (not gating): ${failing.join(', ')}`);
  }
  lines.push(`gate: ${report.passed ? 'PASSED' : 'FAILED'}`);
  return lines;
}
