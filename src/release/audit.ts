import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { isSpanContextValid, type Attributes, type Tracer } from '@opentelemetry/api';
import { z } from 'zod';
import type { GateReport } from './gate.js';

/** How a label move was allowed (SPEC §10). */
export const RELEASE_GATES = ['passed', 'forced', 'not_required', 'rollback'] as const;
export type ReleaseGate = (typeof RELEASE_GATES)[number];

export interface LabelMove {
  promptName: string;
  label: string;
  /** Undefined when no version held the label before. */
  fromVersion: number | undefined;
  toVersion: number;
  gate: ReleaseGate;
  reason: string;
  actor: string;
  /** The candidate run's name, when a gate ran. */
  gateRun?: string;
  /** The gate's verdict, when one ran (a forced move keeps what was overridden). */
  gateReport?: GateReport;
}

/** One line of PROMPT_RELEASE_LOG. */
export const releaseRecordSchema = z.object({
  timestamp: z.string(),
  prompt_name: z.string(),
  label: z.string(),
  from_version: z.number().int().nullable(),
  to_version: z.number().int(),
  gate: z.enum(RELEASE_GATES),
  reason: z.string(),
  actor: z.string(),
  gate_run: z.string().nullable(),
  trace_id: z.string().nullable(),
  gate_result: z
    .object({
      passed: z.boolean(),
      scores: z.record(z.string(), z.number()),
      cost_per_case: z.object({ candidate: z.number().nullable(), baseline: z.number().nullable() }),
      failures: z.number().int(),
      baseline_version: z.number().int().nullable(),
    })
    .nullable(),
});
export type ReleaseRecord = z.infer<typeof releaseRecordSchema>;

/** Who is moving the label: PROMPT_RELEASE_ACTOR, else the OS user. */
export function releaseActor(configured: string | undefined): string {
  if (configured) return configured;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The audit trail of label moves: a `prompt-release` trace (span `prompt.release <label>` with the
 * `app.release.*` attributes) and one JSON line in the release log, which is meant to be committed.
 */
export class ReleaseAudit {
  constructor(
    private readonly options: { tracer: Tracer; logFile: string; agentVersion: string; now?: () => Date },
  ) {}

  get logFile(): string {
    return this.options.logFile;
  }

  /** Fails BEFORE a label moves when the log cannot be written (creates it, and its folder, when missing). */
  assertWritable(): void {
    try {
      mkdirSync(dirname(this.options.logFile), { recursive: true });
      closeSync(openSync(this.options.logFile, 'a'));
    } catch (error) {
      throw new Error(`PROMPT_RELEASE_LOG: cannot write ${this.options.logFile} (${(error as Error).message}); nothing was moved`, { cause: error });
    }
  }

  /** Records a move that happened: the span first (its trace id goes into the log line), then the line. */
  record(move: LabelMove): ReleaseRecord {
    const traceId = this.emitTrace(move);
    const report = move.gateReport;
    const record: ReleaseRecord = {
      timestamp: (this.options.now?.() ?? new Date()).toISOString(),
      prompt_name: move.promptName,
      label: move.label,
      from_version: move.fromVersion ?? null,
      to_version: move.toVersion,
      gate: move.gate,
      reason: move.reason,
      actor: move.actor,
      gate_run: move.gateRun ?? null,
      trace_id: traceId ?? null,
      gate_result: report
        ? {
            passed: report.passed,
            scores: report.scores,
            cost_per_case: report.cost_per_case,
            failures: report.failures.length,
            baseline_version: report.baseline.version,
          }
        : null,
    };
    appendFileSync(this.options.logFile, `${JSON.stringify(record)}\n`);
    return record;
  }

  private emitTrace(move: LabelMove): string | undefined {
    const attributes: Attributes = {
      'langfuse.trace.name': 'prompt-release',
      'langfuse.trace.tags': ['prompt-release', move.label, move.gate],
      'langfuse.trace.metadata.prompt_name': move.promptName,
      'langfuse.trace.metadata.label': move.label,
      'langfuse.version': this.options.agentVersion,
      'app.release.prompt_name': move.promptName,
      'app.release.label': move.label,
      'app.release.to_version': move.toVersion,
      'app.release.gate': move.gate,
      'app.release.reason': move.reason,
      'app.release.actor': move.actor,
    };
    if (move.fromVersion !== undefined) attributes['app.release.from_version'] = move.fromVersion;
    if (move.gateRun) attributes['app.release.gate_run'] = move.gateRun;
    if (move.gateReport) {
      attributes['app.release.gate_passed'] = move.gateReport.passed;
      attributes['app.release.gate_failures'] = move.gateReport.failures.length;
    }
    // A root span of its own: the release is not part of any request's trace.
    const span = this.options.tracer.startSpan(`prompt.release ${move.label}`, { attributes, root: true });
    span.end();
    const context = span.spanContext();
    return isSpanContextValid(context) ? context.traceId : undefined;
  }
}

/** The release log, newest first; lines that do not parse are reported, never fatal. */
export function readHistory(logFile: string, label?: string): { records: ReleaseRecord[]; problems: string[] } {
  if (!existsSync(logFile)) return { records: [], problems: [] };
  const records: { record: ReleaseRecord; line: number }[] = [];
  const problems: string[] = [];
  readFileSync(logFile, 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      if (raw.trim() === '') return;
      try {
        const parsed = releaseRecordSchema.safeParse(JSON.parse(raw));
        if (parsed.success) records.push({ record: parsed.data, line: index + 1 });
        else problems.push(`${logFile}:${index + 1}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      } catch (error) {
        problems.push(`${logFile}:${index + 1}: not valid JSON (${(error as Error).message})`);
      }
    });
  const filtered = records.filter((r) => label === undefined || r.record.label === label);
  // Newest first; for equal timestamps the later line is newer.
  filtered.sort((a, b) => (a.record.timestamp === b.record.timestamp ? b.line - a.line : a.record.timestamp < b.record.timestamp ? 1 : -1));
  return { records: filtered.map((r) => r.record), problems };
}

/** One readable line per move: when, which label, from → to, how it was allowed, who and why. */
export function historyLine(r: ReleaseRecord): string {
  const from = r.from_version === null ? '-' : `v${r.from_version}`;
  const parts = [r.timestamp, r.prompt_name, r.label, `${from} -> v${r.to_version}`, `gate=${r.gate}`, `actor=${r.actor}`];
  if (r.gate_run) parts.push(`run=${r.gate_run}`);
  if (r.reason) parts.push(`reason=${JSON.stringify(r.reason)}`);
  return parts.join('  ');
}
