/**
 * What a benchmark run prints: section tables (stdout), PASS/FAIL targets, notes, and one compact
 * summary table (Markdown, pasteable into the README as is). Progress goes to stderr via `log`.
 */

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface SummaryRow {
  figure: string;
  value: string;
  /** e.g. `≤ 1.25 ms`; empty when the figure has no target. */
  target?: string;
  /** Whether the target was met (undefined: no target). */
  met?: boolean;
}

export class Report {
  readonly lines: string[] = [];
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  readonly summaryRows: SummaryRow[] = [];

  /** A section heading on stdout. */
  section(title: string): void {
    this.lines.push(`\n== ${title} ==`);
  }

  push(...lines: string[]): void {
    this.lines.push(...lines);
  }

  /** A PASS/FAIL target line (the exit code does not depend on it). */
  check(name: string, pass: boolean, detail: string): void {
    this.checks.push({ name, pass, detail });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** A row of the summary table; with a target, `met` says whether this run met it. */
  summary(row: SummaryRow): void {
    this.summaryRows.push(row);
  }

  /** The summary as a Markdown table whose first header cell says what was measured. */
  summaryTable(caption: string): string {
    const cell = (s: string) => s.replace(/\|/g, '\\|');
    const rows = this.summaryRows.map((r) => {
      const target = r.target ? `${r.target}${r.met === undefined ? '' : r.met ? ' (met)' : ' (**missed**)'}` : '';
      return `| ${cell(r.figure)} | ${cell(r.value)} | ${cell(target)} |`;
    });
    return [`| ${cell(caption)} | measured | target |`, '|---|---|---|', ...rows].join('\n');
  }
}
