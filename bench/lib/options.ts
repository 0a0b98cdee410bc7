/**
 * Command-line options of `npm run bench`. The driver declares the common ones; each section
 * declares its own (bench/sections/*.ts), so adding a section never touches a central list.
 */

export interface OptionSpec {
  /** `--name value` or `--name=value`. */
  name: string;
  kind: 'number' | 'string';
  /** Default of a full run; `undefined`: unset unless given. */
  full?: number | string;
  /** Default with `--quick` (falls back to `full`). */
  quick?: number | string;
  help: string;
}

/** Options that take no value. */
const FLAGS = new Set(['quick', 'help']);

export class Options {
  constructor(
    readonly quick: boolean,
    private readonly values: ReadonlyMap<string, string>,
    private readonly specs: ReadonlyMap<string, OptionSpec>,
  ) {}

  private spec(name: string): OptionSpec {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`bench: option --${name} was never declared`);
    return spec;
  }

  private fallback(name: string): number | string | undefined {
    const spec = this.spec(name);
    return this.quick ? (spec.quick ?? spec.full) : spec.full;
  }

  /** A positive number: given, or the declared default. */
  num(name: string): number {
    const raw = this.values.get(name);
    const value = raw === undefined ? this.fallback(name) : Number(raw);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
    return value;
  }

  /** A string: given, or the declared default (`undefined` when neither). */
  str(name: string): string | undefined {
    const raw = this.values.get(name);
    const value = raw ?? this.fallback(name);
    return value === undefined ? undefined : String(value);
  }

  /** A comma-separated list (empty when unset). */
  list(name: string): string[] {
    return (this.str(name) ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  }

  given(name: string): boolean {
    return this.values.has(name);
  }
}

/** Parses argv against the declared options; unknown options are an error. */
export function parseOptions(argv: readonly string[], specs: readonly OptionSpec[]): { options: Options; help: boolean } {
  const byName = new Map<string, OptionSpec>();
  for (const spec of specs) {
    if (byName.has(spec.name)) throw new Error(`bench: option --${spec.name} declared twice`);
    byName.set(spec.name, spec);
  }
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (FLAGS.has(name)) {
      flags.add(name);
      continue;
    }
    if (!byName.has(name)) throw new Error(`unknown option --${name} (see npm run bench -- --help)`);
    if (eq > 0) {
      values.set(name, arg.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      values.set(name, next);
      i += 1;
    }
  }
  return { options: new Options(flags.has('quick'), values, byName), help: flags.has('help') };
}

/** `--help` text: every declared option with its defaults. */
export function optionsHelp(specs: readonly OptionSpec[]): string {
  const fmtDefault = (s: OptionSpec) => {
    if (s.full === undefined || s.full === '') return '';
    return s.quick !== undefined && s.quick !== s.full ? ` (default ${s.full}; --quick ${s.quick})` : ` (default ${s.full})`;
  };
  const width = Math.max(...specs.map((s) => s.name.length)) + 4;
  return specs.map((s) => `  --${s.name.padEnd(width)}${s.help}${fmtDefault(s)}`).join('\n');
}
