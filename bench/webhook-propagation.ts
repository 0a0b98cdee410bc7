/**
 * How long a label moved in Langfuse takes to reach every replica (SPEC §11: ≤ 1 s after the
 * webhook with Redis; within PROMPT_CACHE_TTL_SECONDS without).
 *
 *   node --import tsx bench/webhook-propagation.ts [--replicas 3] [--runs 7]              # with Redis
 *   node --import tsx bench/webhook-propagation.ts --no-redis --ttl 10 [--runs 5]         # without
 *
 * Starts a Langfuse stand-in (in this process), Debian's redis-server on a free port (unless
 * --no-redis) and N real server processes (`node --import tsx src/server.ts`, tracing off).
 * Each run moves `production` to the other version in the stand-in, posts one signed webhook
 * to replica 0, and polls every replica (POST /order-status, a fresh user per poll, 5 ms apart)
 * until it answers with the new version. Prints per run the time from the webhook POST to the
 * last replica answering it (what a client sees, including the poll's own request time), the
 * moment each replica swapped its cached template (from its `prompt label now serves another
 * version` log line), and the medians. Everything on 127.0.0.1, bounded by --timeout.
 */
import { randomUUID } from 'node:crypto';
import { postSignedWebhook, promptVersionEvent } from '../test/support/langfuse-webhook.js';
import { startSeededLangfuse } from '../test/support/seeded-langfuse.js';
import { startTestRedis, type TestRedis } from '../test/support/redis-server.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from '../test/support/server-process.js';
import { parseCliArgs } from '../test/support/stand-in-util.js';

const args = parseCliArgs(process.argv.slice(2));
const replicaCount = Number(args.get('replicas') ?? 3);
const runs = Number(args.get('runs') ?? 7);
const withRedis = args.flag('redis') !== false;
const ttlSeconds = Number(args.get('ttl') ?? (withRedis ? 3600 : 10));
const timeoutMs = Number(args.get('timeout') ?? (ttlSeconds * 1000 * 1.5 + 5_000));
const SECRET = `lf-whsec_${randomUUID().replaceAll('-', '')}`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

let poll = 0;
async function served(r: ServerProcess): Promise<number> {
  const res = await postOrderStatus(r.url, `usr_bench_${(poll += 1)}`);
  return ((await res.json()) as { prompt: { version: number } }).prompt.version;
}

/** Time (ms since `started`) at which `r` first answers `version`. */
async function firstServing(r: ServerProcess, version: number, started: number): Promise<number> {
  while (performance.now() - started < timeoutMs) {
    if ((await served(r)) === version) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${r.url} did not serve version ${version} within ${timeoutMs} ms`);
}

/** Epoch ms of the replica's log line saying `production` now serves `version` (after `since`). */
function swapTime(r: ServerProcess, version: number, since: number): number {
  for (const line of r.logs()) {
    if (!line.includes('prompt label now serves another version')) continue;
    const entry = JSON.parse(line) as { time: number; label: string; to: number };
    if (entry.label === 'production' && entry.to === version && entry.time >= since) return entry.time;
  }
  return Number.NaN;
}

const langfuse = await startSeededLangfuse('pk-lf-bench', 'sk-lf-bench');
let redis: TestRedis | undefined;
const replicas: ServerProcess[] = [];
try {
  if (withRedis) redis = await startTestRedis();
  const env = {
    LANGFUSE_PUBLIC_KEY: 'pk-lf-bench',
    LANGFUSE_SECRET_KEY: 'sk-lf-bench',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    LANGFUSE_WEBHOOK_SECRET: SECRET,
    PROMPT_CACHE_TTL_SECONDS: String(ttlSeconds),
    PROMPT_MAX_STALE_SECONDS: String(Math.max(ttlSeconds, 3600)),
    RATE_LIMIT_PER_USER_PER_MINUTE: '0',
    OTEL_SDK_DISABLED: 'true',
    ...(redis ? { REDIS_URL: redis.url } : {}),
  };
  for (let i = 0; i < replicaCount; i += 1) replicas.push(await startServerProcess(env, 60_000));
  process.stderr.write(`${replicaCount} replicas, ${withRedis ? 'with' : 'without'} Redis, PROMPT_CACHE_TTL_SECONDS=${ttlSeconds}\n`);
  for (const r of replicas) await served(r); // warm each process

  const times: number[] = [];
  const swaps: number[] = [];
  let version = 1;
  for (let run = 1; run <= runs; run += 1) {
    version = version === 1 ? 2 : 1;
    const moved = langfuse.addLabels('order-status-answer', version, ['production']);
    const startedAt = Date.now();
    const started = performance.now();
    const res = await postSignedWebhook(replicas[0]!.url, SECRET, promptVersionEvent({ version, labels: moved.labels }));
    const status = ((await res.json()) as { status: string }).status;
    const each = await Promise.all(replicas.map((r) => firstServing(r, version, started)));
    const all = Math.max(...each);
    times.push(all);
    const swapped = Math.max(...replicas.map((r) => swapTime(r, version, startedAt) - startedAt));
    swaps.push(swapped);
    process.stdout.write(
      `run ${run}: webhook ${status}; replicas answer v${version} after ${each.map((t) => `${t.toFixed(0)} ms`).join(', ')} → all: ${all.toFixed(0)} ms (last cache swap: ${swapped} ms)\n`,
    );
  }
  process.stdout.write(
    `median over ${runs} runs: every replica answering ${median(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}); last cache swap ${median(swaps).toFixed(0)} ms\n`,
  );
} finally {
  await Promise.all(replicas.map((r) => r.stop()));
  await redis?.stop();
  await langfuse.close();
}
