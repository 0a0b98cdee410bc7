import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differenceInterval, verdictFor, votesPerLabelNeeded, wilsonInterval } from '../src/quality/proportions.js';

const round = (x: number | undefined, d = 4) => (x === undefined ? undefined : Number(x.toFixed(d)));

describe('Wilson interval', () => {
  it('matches published values and stays inside [0, 1] at the extremes', () => {
    // Newcombe (1998), table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611.
    expect([round(wilsonInterval({ successes: 81, total: 263 })?.low), round(wilsonInterval({ successes: 81, total: 263 })?.high)]).toEqual([0.2553, 0.3662]);
    expect(round(wilsonInterval({ successes: 15, total: 148 })?.low)).toBe(0.0624);
    expect(wilsonInterval({ successes: 0, total: 20 })).toMatchObject({ low: 0 });
    expect(round(wilsonInterval({ successes: 0, total: 20 })?.high)).toBe(0.1611);
    expect(wilsonInterval({ successes: 20, total: 20 })?.high).toBe(1);
    expect(wilsonInterval({ successes: 0, total: 0 })).toBeUndefined();
  });
});

describe('difference of two shares (Newcombe hybrid score)', () => {
  it('reproduces Newcombe (1998) example: 56/70 − 48/80 → 0.0524 to 0.3339', () => {
    const d = differenceInterval({ successes: 48, total: 80 }, { successes: 56, total: 70 });
    expect([round(d?.low), round(d?.high)]).toEqual([0.0524, 0.3339]);
  });

  it('verdicts: better / worse only when the interval excludes 0 and both have enough votes', () => {
    expect(verdictFor({ successes: 48, total: 80 }, { successes: 56, total: 70 }, 20).result).toBe('better');
    expect(verdictFor({ successes: 56, total: 70 }, { successes: 48, total: 80 }, 20).result).toBe('worse');
    expect(verdictFor({ successes: 12, total: 20 }, { successes: 10, total: 20 }, 20).result).toBe('no significant difference');
    expect(verdictFor({ successes: 10, total: 10 }, { successes: 0, total: 10 }, 20)).toMatchObject({ result: 'no significant difference', tooFewVotes: true });
    expect(verdictFor({ successes: 0, total: 0 }, { successes: 5, total: 25 }, 20).result).toBe('no significant difference');
  });
});

describe('votes needed', () => {
  it('is what the README says (95% confidence, 80% power)', () => {
    expect(votesPerLabelNeeded(0.7, 0.6)).toBe(356);
    expect(votesPerLabelNeeded(0.7, 0.5)).toBe(93);
    expect(votesPerLabelNeeded(0.5, 0.5)).toBeUndefined();
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('roughly 356 per label to tell 70% from 60% positive, 93 for 70% from 50%');
  });
});
