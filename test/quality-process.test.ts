import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';
import { postOrderStatus, startServerProcess, type ServerProcess } from './support/server-process.js';

/** Real server processes: interaction ids across restarts, scores flushed on SIGTERM. */
let otlp: OtlpReceiver;
let langfuse: LangfuseStandIn;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  langfuse = await startSeededLangfuse('pk-lf-proc', 'sk-lf-proc');
});
afterAll(async () => Promise.all([otlp.close(), langfuse.close()]));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  langfuse.setFault(null);
  langfuse.quality.reset();
});

const KEY = 'interaction-key-for-tests-0123456789abcdef';

async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '100', ...extra });
  servers.push(server);
  return server;
}

async function interaction(server: ServerProcess, userId: string): Promise<{ interaction_id: string; trace_id: string }> {
  const res = await postOrderStatus(server.url, userId);
  expect(res.status).toBe(200);
  return (await res.json()) as { interaction_id: string; trace_id: string };
}

const feedback = (server: ServerProcess, interactionId: string, userId: string, value = 'positive') =>
  fetch(`${server.url}/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ interaction_id: interactionId, user_id: userId, value }),
  });

const stoppedLine = (server: ServerProcess) => {
  const line = server.logs().find((l) => l.includes('"msg":"stopped"'));
  return line ? (JSON.parse(line) as { scores?: Record<string, number> }) : undefined;
};

describe('interaction ids outlive the process that minted them', () => {
  it('verifies after a restart with the same INTERACTION_SIGNING_KEY, not with another key', async () => {
    const first = await start({ INTERACTION_SIGNING_KEY: KEY });
    const { interaction_id: id } = await interaction(first, 'usr_restart');
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);

    const restarted = await start({ INTERACTION_SIGNING_KEY: KEY });
    expect(restarted.logs().some((l) => l.includes('INTERACTION_SIGNING_KEY is not set'))).toBe(false);
    const accepted = await feedback(restarted, id, 'usr_restart');
    expect(accepted.status).toBe(202);

    // A rotated key list that still holds the old key verifies it too.
    const rotated = await start({ INTERACTION_SIGNING_KEY: `new-interaction-key-0123456789abcdef,${KEY}` });
    expect((await feedback(rotated, id, 'usr_restart')).status).toBe(202);

    const otherKey = await start({ INTERACTION_SIGNING_KEY: 'another-interaction-key-0123456789ab' });
    const refused = await feedback(otherKey, id, 'usr_restart');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invalid_interaction_id');
  }, 120_000);

  it('without a key (development) warns at start-up, and a restart no longer verifies old ids', async () => {
    const first = await start();
    expect(first.logs().some((l) => l.includes('INTERACTION_SIGNING_KEY is not set'))).toBe(true);
    const { interaction_id: id } = await interaction(first, 'usr_ephemeral');
    expect((await feedback(first, id, 'usr_ephemeral')).status).toBe(202);
    first.child.kill('SIGTERM');
    await first.exited;
    const second = await start();
    expect((await feedback(second, id, 'usr_ephemeral')).status).toBe(400);
  }, 90_000);

  it('refuses to start in production without INTERACTION_SIGNING_KEY, naming it', async () => {
    await expect(
      start({
        DEPLOYMENT_ENVIRONMENT: 'production',
        OPENAI_API_KEY: 'sk-x',
        LANGFUSE_PUBLIC_KEY: 'pk',
        LANGFUSE_SECRET_KEY: 'sk',
        SERVICE_API_KEYS: 'k'.repeat(20),
      }),
    ).rejects.toThrow(/INTERACTION_SIGNING_KEY/);
  }, 60_000);
});

describe('SIGTERM flushes queued scores within the grace period', () => {
  const langfuseEnv = () => ({
    LANGFUSE_PUBLIC_KEY: 'pk-lf-proc',
    LANGFUSE_SECRET_KEY: 'sk-lf-proc',
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    INTERACTION_SIGNING_KEY: KEY,
    SCORE_REQUEST_TIMEOUT_MS: '500',
    SCORE_RETRY_MAX_DELAY_MS: '30000',
  });

  it('delivers scores queued during a Langfuse outage once it recovers mid-drain, and counts them in the stopped line', async () => {
    const server = await start(langfuseEnv());
    langfuse.quality.setScoreFault({ status: 503 });
    const { interaction_id: id, trace_id: traceId } = await interaction(server, 'usr_drain');
    expect((await feedback(server, id, 'usr_drain', 'negative')).status).toBe(202);
    await langfuse.quality.waitFor(() => langfuse.quality.scoreRequests.some((r) => r.status === 503), 'a failed delivery');
    server.child.kill('SIGTERM');
    setTimeout(() => langfuse.quality.setScoreFault(null), 500);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const name of ['user_feedback', 'answer_correctness', 'policy_compliance']) {
      expect(langfuse.quality.scores.has(`${traceId}:${name}`)).toBe(true);
    }
    expect(stoppedLine(server)?.scores).toMatchObject({ delivered: 3, lost: 0, dropped: 0, rejected: 0, pending: 0 });
  }, 60_000);

  it('gives up at the grace deadline while Langfuse hangs, exits 0 and counts the lost scores', async () => {
    const server = await start({ ...langfuseEnv(), SHUTDOWN_GRACE_MS: '3000', SCORE_REQUEST_TIMEOUT_MS: '10000' });
    const { interaction_id: id } = await interaction(server, 'usr_hang');
    langfuse.setFault('hang');
    expect((await feedback(server, id, 'usr_hang')).status).toBe(202);
    const started = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    const stopped = stoppedLine(server);
    expect(stopped?.scores?.lost).toBeGreaterThanOrEqual(1);
    expect(stopped?.scores).toMatchObject({ pending: 0 });
  }, 60_000);
});
