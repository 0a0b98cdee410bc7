/**
 * What a benchmark section is. A section is one module in bench/sections/ plus one line in
 * bench/sections/index.ts; bench/run.ts only drives them.
 */
import type { CommonConfig } from '../lib/harness.js';
import type { InterleavedResult, VariantPlan } from '../lib/interleaved.js';
import type { OptionSpec, Options } from '../lib/options.js';
import type { Report } from '../lib/report.js';

/** Figures one section measures and a later one reuses. */
export interface SharedFigures {
  /** Spans one traced service request produces (calibrated by the 0 ms run). */
  spansPerRequest?: number;
}

export interface SectionContext {
  cfg: CommonConfig;
  /** Common and section options (`options.num('soak-requests')`). */
  options: Options;
  /** Tables, PASS/FAIL targets, notes and summary rows. */
  report: Report;
  /** The run's JSON: a section stores its numbers under its own name. */
  results: Record<string, unknown>;
  shared: SharedFigures;
}

export interface BenchSection {
  /** `--only <name>`. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Run by a plain `npm run bench` (otherwise only with `--only <name>` or one of its options). */
  byDefault: boolean;
  /** Options of this section; giving one on the command line also selects the section. */
  options?: OptionSpec[];
  /**
   * Variants to measure in the shared interleaved 0 ms-model rounds (bench/lib/interleaved.ts).
   * Sections selected together share one run, so their comparisons come from the same rounds;
   * a variant asked for by two sections (same name) is started once.
   */
  variants?(ctx: SectionContext): VariantPlan[];
  /** Measures (or, with `variants`, reads `interleaved`) and reports. */
  run(ctx: SectionContext, interleaved?: InterleavedResult): Promise<void>;
}
