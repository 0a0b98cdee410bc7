/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package
 * group (langgraph, @langchain/core, langsmith, fastify, zod, OTel, our src, node internals, GC…),
 * optionally only for the samples inside a time window (CLOCK_MONOTONIC microseconds, the clock
 * of both V8's profile timestamps and process.hrtime), so start-up and warm-up can be left out.
 *
 *   node --import tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--from <us>] [--to <us>] [--top 15]
 *     [--inclusive <url regex>]   also: the share of busy time inside matching frames, callees included
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  windowMs: number;
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  groups: { group: string; ms: number; pct: number }[];
  /** Like `groups`, but time in Node internals and natives goes to the nearest library frame above it. */
  attributed: { group: string; ms: number; pct: number }[];
  /** Self time plus the runtime work it called, by function (top 80). */
  attributedFunctions: { fn: string; group: string; ms: number; pct: number }[];
  top: { fn: string; group: string; ms: number; pct: number }[];
}

const GROUP_RULES: [RegExp, string][] = [
  [/node_modules\/@langchain\/langgraph/, 'langgraph'],
  [/node_modules\/@langchain\/core/, '@langchain/core'],
  [/node_modules\/@langchain\/openai/, '@langchain/openai'],
  [/node_modules\/langsmith/, 'langsmith'],
  [/node_modules\/openai\//, 'openai SDK'],
  [/node_modules\/(zod|fastify-type-provider-zod|zod-to-json-schema)\//, 'zod'],
  [/node_modules\/@opentelemetry\/|node_modules\/@fastify\/otel\//, 'OTel'],
  [/node_modules\/(fastify|@fastify\/[^/]+|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|secure-json-parse|toad-cache|process-warning|rfdc|fast-uri|ajv|json-schema-ref-resolver|abstract-logging|fast-decode-uri-component|@lukeed\/ms)\//, 'fastify'],
  [/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|@pinojs\/[^/]+|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify)\//, 'pino'],
  [/node_modules\/@langfuse\//, 'langfuse'],
  [/node_modules\/(uuid|p-queue|p-retry|eventemitter3|p-timeout|decamelize|camelcase|ansi-styles|js-tiktoken|mustache)\//, 'langchain deps (uuid, p-queue…)'],
  [/node_modules\/tsx\//, 'tsx loader'],
  [/node:internal\/deps\/undici|internal\/deps\/undici/, 'undici (fetch)'],
  [/^file:\/\/(?!.*\/node_modules\/).*\/src\//, 'our src'],
  [/^node:|^internal\/|^(?![a-z]+:)[a-z_]+(\.js)?$/, 'node internals'],
];

/** Groups that are the runtime doing work for someone else (attributed to the caller in `attributed`). */
const RUNTIME_GROUPS: ReadonlySet<string> = new Set(['node internals', 'native/builtins (no url)', 'undici (fetch)', '(program: native, unattributed)', 'other']);

export function packageGroup(frame: CallFrame): string {
  const { functionName, url } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program: native, unattributed)';
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(root)') return '(root)';
  for (const [pattern, group] of GROUP_RULES) if (pattern.test(url)) return group;
  if (url === '') return 'native/builtins (no url)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return pkg ? `other: ${pkg[1]}` : 'other';
}

function functionLabel(frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`.trim();
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

export function summariseProfile(profile: CpuProfile, window?: { fromUs?: number; toUs?: number }, topN = 15): ProfileSummary {
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  // the nearest frame at or above a sample that is not the runtime working for someone else
  const ownerOf = new Map<number, number>();
  const owner = (id: number): number => {
    const cached = ownerOf.get(id);
    if (cached !== undefined) return cached;
    let result = id;
    if (RUNTIME_GROUPS.has(packageGroup((byId.get(id) as ProfileNode).callFrame))) {
      const parent = parentOf.get(id);
      const above = parent === undefined ? undefined : owner(parent);
      if (above !== undefined && packageGroup((byId.get(above) as ProfileNode).callFrame) !== '(root)') result = above;
    }
    ownerOf.set(id, result);
    return result;
  };
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  const from = window?.fromUs ?? -Infinity;
  const to = window?.toUs ?? Infinity;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    // attribute the interval until the next sample to this sample (V8's own convention for self time)
    const next = profile.timeDeltas[i + 1] ?? delta;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + next);
    first = Math.min(first, t);
    last = Math.max(last, t);
  }
  const byFunction = new Map<string, { group: string; us: number }>();
  const byGroup = new Map<string, number>();
  const byAttributed = new Map<string, number>();
  const byOwnerFunction = new Map<string, { group: string; us: number }>();
  let idle = 0;
  let sampled = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const group = packageGroup(frame);
    sampled += us;
    if (group === '(idle)') {
      idle += us;
      continue;
    }
    byGroup.set(group, (byGroup.get(group) ?? 0) + us);
    const ownerFrame = (byId.get(owner(id)) as ProfileNode).callFrame;
    const attributed = packageGroup(ownerFrame);
    byAttributed.set(attributed, (byAttributed.get(attributed) ?? 0) + us);
    const ownerFn = functionLabel(ownerFrame);
    const owned = byOwnerFunction.get(ownerFn) ?? { group: attributed, us: 0 };
    owned.us += us;
    byOwnerFunction.set(ownerFn, owned);
    const fn = functionLabel(frame);
    const entry = byFunction.get(fn) ?? { group, us: 0 };
    entry.us += us;
    byFunction.set(fn, entry);
  }
  const busy = sampled - idle;
  const pct = (us: number) => (busy > 0 ? (us / busy) * 100 : 0);
  return {
    windowMs: Number.isFinite(first) ? (last - first) / 1000 : 0,
    sampledMs: sampled / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    groups: [...byGroup.entries()].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: us / 1000, pct: pct(us) })),
    attributed: [...byAttributed.entries()].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: us / 1000, pct: pct(us) })),
    attributedFunctions: [...byOwnerFunction.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 80)
      .map(([fn, { group, us }]) => ({ fn, group, ms: us / 1000, pct: pct(us) })),
    top: [...byFunction.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, topN)
      .map(([fn, { group, us }]) => ({ fn, group, ms: us / 1000, pct: pct(us) })),
  };
}

type Window = { fromUs?: number; toUs?: number };
type Share = { busyMs: number; matchedMs: number; pct: number };

/** Busy (non-idle) sample time in the window, and the part of it whose sample node `matches`. */
function busyShare(profile: CpuProfile, byId: Map<number, ProfileNode>, matches: (id: number) => boolean, window?: Window): Share {
  let t = profile.startTime;
  let busy = 0;
  let matched = 0;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < (window?.fromUs ?? -Infinity) || t > (window?.toUs ?? Infinity)) continue;
    const id = profile.samples[i] as number;
    if ((byId.get(id) as ProfileNode).callFrame.functionName === '(idle)') continue;
    const us = profile.timeDeltas[i + 1] ?? delta;
    busy += us;
    if (matches(id)) matched += us;
  }
  return { busyMs: busy / 1000, matchedMs: matched / 1000, pct: busy > 0 ? (matched / busy) * 100 : 0 };
}

function nodeIndex(profile: CpuProfile): { byId: Map<number, ProfileNode>; parent: Map<number, number> } {
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { byId, parent };
}

/**
 * Share of busy time spent inside frames whose url matches `pattern`, callees included (a sample
 * counts when any frame of its stack matches): e.g. everything the metrics code costs, SDK and all.
 */
export function inclusiveShare(profile: CpuProfile, pattern: RegExp, window?: Window): Share {
  const { byId, parent } = nodeIndex(profile);
  const matches = new Map<number, boolean>();
  const stackMatches = (id: number | undefined): boolean => {
    if (id === undefined) return false;
    const known = matches.get(id);
    if (known !== undefined) return known;
    const hit = pattern.test((byId.get(id) as ProfileNode).callFrame.url) || stackMatches(parent.get(id));
    matches.set(id, hit);
    return hit;
  };
  return busyShare(profile, byId, stackMatches, window);
}

/**
 * Share of busy time whose owner (the sample's frame, or for Node internals and natives the
 * nearest library frame that called them, as in `attributed`) has a url matching `pattern`:
 * e.g. everything tracing costs in its own code — the SDK, the exporter's serialisation and socket
 * writes — without the graph that runs inside `startActiveSpan`'s callback.
 */
export function ownedShare(profile: CpuProfile, pattern: RegExp, window?: Window): Share {
  const { byId, parent } = nodeIndex(profile);
  const matches = new Map<number, boolean>();
  const ownerMatches = (id: number): boolean => {
    const known = matches.get(id);
    if (known !== undefined) return known;
    const frame = (byId.get(id) as ProfileNode).callFrame;
    let hit = pattern.test(frame.url);
    if (!hit && RUNTIME_GROUPS.has(packageGroup(frame))) {
      const up = parent.get(id);
      hit = up !== undefined && ownerMatches(up);
    }
    matches.set(id, hit);
    return hit;
  };
  return busyShare(profile, byId, ownerMatches, window);
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [
    `window ${s.windowMs.toFixed(0)} ms; busy ${s.busyMs.toFixed(0)} ms (main thread; percentages are of busy time), idle ${s.idleMs.toFixed(0)} ms`,
    '',
    'self time by package group:',
    ...s.groups.map((g) => `  ${g.pct.toFixed(1).padStart(5)}%  ${g.ms.toFixed(0).padStart(7)} ms  ${g.group}`),
    '',
    'the same, with Node internals and natives charged to the nearest library frame that called them:',
    ...s.attributed.map((g) => `  ${g.pct.toFixed(1).padStart(5)}%  ${g.ms.toFixed(0).padStart(7)} ms  ${g.group}`),
    '',
    `top ${s.top.length} functions by self time:`,
    ...s.top.map((f, i) => `  ${String(i + 1).padStart(2)}. ${f.pct.toFixed(1).padStart(5)}%  [${f.group}] ${f.fn}`),
  ];
  return lines.join('\n');
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cpuprofile-summary.ts')) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--from us] [--to us] [--top N] [--inclusive <url regex>]\n');
    process.exit(2);
  }
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const window = { fromUs: opt('from'), toUs: opt('to') };
  process.stdout.write(`${formatSummary(summariseProfile(profile, window, opt('top') ?? 15))}\n`);
  const inclusive = args.indexOf('--inclusive');
  if (inclusive >= 0) {
    const share = inclusiveShare(profile, new RegExp(args[inclusive + 1] ?? '$^'), window);
    process.stdout.write(`\ninside frames matching /${args[inclusive + 1]}/ (callees included): ${share.matchedMs.toFixed(0)} ms of ${share.busyMs.toFixed(0)} ms busy = ${share.pct.toFixed(2)}%\n`);
  }
}
