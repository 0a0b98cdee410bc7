/**
 * Confidence intervals for a share of votes (positive feedback) and for the
 * difference between two shares. Wilson's score interval stays inside [0, 1]
 * and behaves at small counts and at 0% / 100%, where the textbook
 * p ± 1.96·SE interval does not; Newcombe's hybrid score interval for a
 * difference is built from the two Wilson intervals (Newcombe 1998, method 10).
 */

/** Two-sided 95%. */
export const Z_95 = 1.959963984540054;
/** One-sided 80% power. */
const Z_POWER_80 = 0.8416212335729143;

export interface Interval {
  low: number;
  high: number;
}

export interface Votes {
  /** Positive votes. */
  successes: number;
  total: number;
}

/** Wilson score interval for successes/total; undefined without votes. */
export function wilsonInterval({ successes, total }: Votes, z = Z_95): Interval | undefined {
  if (total <= 0) return undefined;
  const p = successes / total;
  const z2 = z * z;
  const denominator = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / denominator;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface Difference extends Interval {
  /** candidate share − baseline share. */
  difference: number;
}

/** 95% interval for (candidate − baseline) share; undefined when either has no votes. */
export function differenceInterval(baseline: Votes, candidate: Votes, z = Z_95): Difference | undefined {
  const a = wilsonInterval(baseline, z);
  const b = wilsonInterval(candidate, z);
  if (!a || !b) return undefined;
  const p1 = baseline.successes / baseline.total;
  const p2 = candidate.successes / candidate.total;
  const d = p2 - p1;
  return {
    difference: d,
    low: d - Math.sqrt((p2 - b.low) ** 2 + (a.high - p1) ** 2),
    high: d + Math.sqrt((b.high - p2) ** 2 + (p1 - a.low) ** 2),
  };
}

/**
 * Votes per label for an 80% chance of seeing a true difference between shares
 * p1 and p2 as significant at 95% (two-sided); undefined when they are equal.
 */
export function votesPerLabelNeeded(p1: number, p2: number): number | undefined {
  if (p1 === p2) return undefined;
  const mean = (p1 + p2) / 2;
  const root = Z_95 * Math.sqrt(2 * mean * (1 - mean)) + Z_POWER_80 * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((root * root) / ((p1 - p2) * (p1 - p2)));
}

export type VerdictResult = 'better' | 'worse' | 'no significant difference';

/**
 * `better` / `worse` when the 95% interval of the difference excludes zero and
 * both labels have at least `minVotes` votes; otherwise no significant difference.
 */
export function verdictFor(baseline: Votes, candidate: Votes, minVotes: number): { result: VerdictResult; interval?: Difference; tooFewVotes: boolean } {
  const interval = differenceInterval(baseline, candidate);
  const tooFewVotes = baseline.total < minVotes || candidate.total < minVotes;
  if (!interval || tooFewVotes) return { result: 'no significant difference', tooFewVotes, ...(interval ? { interval } : {}) };
  const result = interval.low > 0 ? 'better' : interval.high < 0 ? 'worse' : 'no significant difference';
  return { result, interval, tooFewVotes };
}
