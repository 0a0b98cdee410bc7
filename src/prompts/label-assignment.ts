import { createHash } from 'node:crypto';
import { DEFAULT_PROMPT_LABEL } from './prompt-template.js';

export interface ExperimentArm {
  label: string;
  weight: number;
}

/** The A/B split the book's prompt-ab-test scenario uses. */
export const PROMPT_AB_ARMS: readonly ExperimentArm[] = [
  { label: 'prod-a', weight: 1 },
  { label: 'prod-b', weight: 1 },
];

/** Changing the salt reshuffles every user between arms: treat it as part of the experiment. */
const ASSIGNMENT_SALT = 'prompt-ab';

/** A uniform number in [0, 1) for any id string (the book's `int(id[-2:], 16)` crashes on non-hex ids). */
export function assignmentPoint(pseudonymousUserId: string): number {
  const digest = createHash('sha256').update(`${ASSIGNMENT_SALT}:${pseudonymousUserId}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** Deterministic weighted assignment; no experiment means everyone is on `production`. */
export function assignPromptLabel(pseudonymousUserId: string, arms: readonly ExperimentArm[]): string {
  if (arms.length === 0) return DEFAULT_PROMPT_LABEL;
  const total = arms.reduce((sum, arm) => sum + arm.weight, 0);
  let point = assignmentPoint(pseudonymousUserId) * total;
  for (const arm of arms) {
    if (point < arm.weight) return arm.label;
    point -= arm.weight;
  }
  return (arms.at(-1) as ExperimentArm).label;
}
