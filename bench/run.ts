/**
 * `npm run bench` — the service's cost per request and its ratios to bare baselines, on
 * 127.0.0.1, bounded. This file only drives: the sections live in bench/sections/ (registry:
 * bench/sections/index.ts), the shared plumbing in bench/lib/. See bench/README.md.
 *
 *   npm run bench [-- --quick] [--only a,b] [--node <path>] [--help]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { config, ROOT, sinkStats, startHarness, stopHarness, type CommonConfig } from './lib/harness.js';
import { runInterleaved, type InterleavedResult, type VariantPlan } from './lib/interleaved.js';
import { optionsHelp, parseOptions, type OptionSpec } from './lib/options.js';
import { openFileLimit, stopAllStarted } from './lib/proc.js';
import { log, Report } from './lib/report.js';
import { fmt, median } from './lib/stats.js';
import { SECTIONS } from './sections/index.js';
import type { SectionContext } from './sections/section.js';

const COMMON_OPTIONS: OptionSpec[] = [
  { name: 'only', kind: 'string', help: `sections to run, comma-separated (default: ${SECTIONS.filter((s) => s.byDefault).map((s) => s.name).join(',')})` },
  { name: 'node', kind: 'string', help: 'node binary of the servers under test (default: the one running this driver)' },
  { name: 'server-flags', kind: 'string', full: '', help: 'extra node flags for every server under test, e.g. "--max-semi-space-size=32"' },
  { name: 'rounds', kind: 'number', full: 5, quick: 3, help: 'interleaved rounds' },
  { name: 'duration', kind: 'number', full: 8, quick: 3, help: 'seconds per variant per round' },
  // JIT steady state: with 5 s the first rounds ran 20-40% slower than the later ones
  { name: 'warmup', kind: 'number', full: 20, quick: 3, help: 'warm-up seconds per server' },
  { name: 'connections', kind: 'number', full: 16, help: 'connections of the 0 ms-model load' },
  { name: 'baseline', kind: 'string', help: 'another git ref (e.g. main) measured next to this tree by the sections that compare (tracing, profile): before/after from one run' },
  { name: 'replicas', kind: 'number', full: 1, help: 'server processes per variant in the 0 ms rounds (identical processes differ by up to ~10%: use 2-3 for before/after)' },
];

const allOptions = [...COMMON_OPTIONS, ...SECTIONS.flatMap((s) => s.options ?? [])];
const { options, help } = parseOptions(process.argv.slice(2), allOptions);
if (help) {
  process.stdout.write(
    [
      'npm run bench [-- options]   (bench/README.md explains every figure)',
      '',
      'sections (--only):',
      ...SECTIONS.map((s) => `  ${s.name.padEnd(12)}${s.description}${s.byDefault ? '' : ' (only when asked for)'}`),
      '',
      'options (--quick: short runs; a section option also selects its section):',
      optionsHelp(allOptions),
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const nodeBin = path.resolve(options.str('node') ?? process.execPath);
if (!existsSync(nodeBin)) throw new Error(`--node ${nodeBin}: no such file`);
const cfg: CommonConfig = {
  quick: options.quick,
  nodeBin,
  serverNodeVersion: execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, ''),
  serverFlags: (options.str('server-flags') ?? '').split(/\s+/).filter(Boolean),
  rounds: options.num('rounds'),
  durationSec: options.num('duration'),
  warmupSec: options.num('warmup'),
  connections: options.num('connections'),
  baseline: options.str('baseline'),
};

const onlyList = options.list('only');
for (const name of onlyList) if (!SECTIONS.some((s) => s.name === name)) throw new Error(`--only: unknown section ${name} (one of ${SECTIONS.map((s) => s.name).join(', ')})`);
const selected = SECTIONS.filter(
  (s) => (onlyList.length > 0 ? onlyList.includes(s.name) : s.byDefault) || (s.options ?? []).some((o) => options.given(o.name)),
);

function gitInfo(): { commit: string; dirtyFiles: number } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return { commit, dirtyFiles: dirty };
  } catch {
    return { commit: 'unknown', dirtyFiles: -1 };
  }
}

/** The variants every selected section asked for, once each (same name = same server). */
function collectVariants(ctx: SectionContext): VariantPlan[] {
  const byName = new Map<string, VariantPlan>();
  for (const section of selected) {
    for (const plan of section.variants?.(ctx) ?? []) {
      const seen = byName.get(plan.name);
      if (seen && JSON.stringify(seen) !== JSON.stringify(plan)) throw new Error(`bench: two sections define variant ${plan.name} differently`);
      byName.set(plan.name, plan);
    }
  }
  return [...byName.values()];
}

async function main(): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(ROOT, 'bench/results');
  const logDir = path.join(resultsDir, `${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });
  const report = new Report();
  const t0 = Date.now();
  const meta = {
    startedAt: new Date().toISOString(),
    git: gitInfo(),
    serverNode: cfg.serverNodeVersion,
    serverNodeBin: cfg.nodeBin,
    serverFlags: cfg.serverFlags,
    driverNode: process.versions.node,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvgAtStart: os.loadavg(),
    openFileLimit: openFileLimit(),
    sections: selected.map((s) => s.name),
  };
  if (existsSync(path.join(ROOT, '.env'))) report.note('a .env file exists: the service reads it, but every variable the benchmark depends on is set explicitly');
  if (meta.cpus <= 2) {
    report.note(
      `${meta.cpus} CPUs: the load generator, the OpenAI stand-in and the OTLP sink compete with the server for CPU, so throughput is often limited by the machine, not the server; CPU per request is the comparable figure`,
    );
  }
  log(`sections: ${meta.sections.join(', ')}; servers on node ${cfg.serverNodeVersion} (${cfg.nodeBin}); driver/load generator/stand-ins on node ${process.versions.node}; logs in ${path.relative(ROOT, logDir)}`);

  await startHarness(cfg, report, logDir);
  const results: Record<string, unknown> = {};
  const ctx: SectionContext = { cfg: config(), options, report, results, shared: {} };
  const plans = collectVariants(ctx);
  let interleaved: InterleavedResult | undefined;
  if (plans.length > 0) {
    interleaved = await runInterleaved(plans, cfg, options.num('replicas'));
    results.interleaved = {
      replicas: interleaved.replicas,
      connections: interleaved.connections,
      rounds: interleaved.rounds,
      durationSec: interleaved.durationSec,
      spansPerRequest: Object.fromEntries(interleaved.spansPerRequest),
      variants: Object.fromEntries(interleaved.variants),
      runs: Object.fromEntries(interleaved.runs),
    };
  }
  for (const section of selected) {
    log(`section ${section.name}`);
    await section.run(ctx, section.variants ? interleaved : undefined);
  }

  const sinkFinal = await sinkStats();
  if (sinkFinal.crossCheckMismatches > 0 || sinkFinal.rejected > 0) {
    report.note(`OTLP sink: ${sinkFinal.crossCheckMismatches} span-count cross-check mismatches, ${sinkFinal.rejected} rejected exports`);
  }
  if (interleaved) {
    const others = median([...interleaved.runs.values()].flat().map((r) => r.othersCpuPct));
    report.summary({ figure: 'other processes on the machine during the 0 ms rounds (quiet machine: ~0%)', value: `${fmt(others, 0)}% of one core (median)` });
  }
  const durationSec = (Date.now() - t0) / 1000;
  const caption = `Node ${cfg.serverNodeVersion}${cfg.serverFlags.length ? ` ${cfg.serverFlags.join(' ')}` : ''}, commit ${meta.git.commit}${meta.git.dirtyFiles > 0 ? '+' : ''}, ${cfg.quick ? 'quick' : 'full'} run, ${meta.startedAt.slice(0, 10)}`;
  const lines = [
    `order-status service benchmark — ${meta.startedAt} — commit ${meta.git.commit}${meta.git.dirtyFiles > 0 ? ` (+${meta.git.dirtyFiles} uncommitted files)` : ''}`,
    `servers: node ${cfg.serverNodeVersion}${cfg.serverFlags.length ? ` ${cfg.serverFlags.join(' ')}` : ''}; load generator + stand-ins: node ${process.versions.node}; ` +
      `${meta.cpus} x ${meta.cpuModel}, ${meta.memGiB} GiB; ${cfg.quick ? 'QUICK run' : 'full run'} in ${fmt(durationSec / 60, 1)} min; sections ${meta.sections.join(', ')}`,
    ...report.lines,
    '\n== Targets ==',
    ...report.checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`),
    ...(report.notes.length ? ['\n== Notes ==', ...report.notes.map((n) => `- ${n}`)] : []),
    ...(report.summaryRows.length ? ['\n== Summary (Markdown; paste into the README as is) ==', '', report.summaryTable(caption)] : []),
  ];
  const file = path.join(resultsDir, `${stamp}-node${cfg.serverNodeVersion}.json`);
  const optionValues = Object.fromEntries(allOptions.map((o) => [o.name, o.kind === 'number' && (o.full !== undefined || options.given(o.name)) ? options.num(o.name) : options.str(o.name)]));
  writeFileSync(
    file,
    JSON.stringify({ meta: { ...meta, durationSec, quick: cfg.quick }, config: cfg, options: optionValues, results, checks: report.checks, summary: report.summaryRows, notes: report.notes, sink: sinkFinal }, null, 2),
  );
  process.stdout.write(`${lines.join('\n')}\n\nresults: ${path.relative(ROOT, file)}\n`);
}

async function cleanup(): Promise<void> {
  await stopHarness();
  await stopAllStarted();
}

process.on('SIGINT', () => {
  log('interrupted: stopping everything this benchmark started');
  void cleanup().finally(() => process.exit(130));
});

try {
  await main();
  await cleanup();
  process.exit(0);
} catch (error) {
  process.stderr.write(`bench: harness failure: ${(error as Error).stack ?? String(error)}\n`);
  await cleanup();
  process.exit(1);
}
