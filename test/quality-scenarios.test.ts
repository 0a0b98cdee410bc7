import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LangfuseStandIn } from './support/langfuse-quality-stand-in.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { runNodeScript } from './support/processes.js';
import { startSeededLangfuse } from './support/seeded-langfuse.js';

/** `npm run scenario -- feedback | negative-signal` as a user runs them: child processes, real clients. */
let langfuse: LangfuseStandIn;
let otlp: OtlpReceiver;

beforeAll(async () => {
  langfuse = await startSeededLangfuse('pk-lf-qs', 'sk-lf-qs');
  otlp = await startOtlpReceiver();
});
afterAll(async () => Promise.all([langfuse.close(), otlp.close()]));
beforeEach(() => {
  otlp.reset();
  langfuse.quality.reset();
});

const langfuseEnv = { LANGFUSE_PUBLIC_KEY: 'pk-lf-qs', LANGFUSE_SECRET_KEY: 'sk-lf-qs' };
const scenario = (name: string, env: Record<string, string> = langfuseEnv) =>
  runNodeScript('scenarios/run.ts', [name], {
    ...env,
    LANGFUSE_BASE_URL: langfuse.baseUrl,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    DEPLOYMENT_ENVIRONMENT: 'scenario-env',
    AGENT_VERSION: 'scenario-test',
  });

const span = (spans: readonly ReceivedSpan[], name: string) => {
  const found = spans.find((s) => s.name === name);
  if (!found) throw new Error(`no ${name}; saw ${spans.map((s) => s.name).join(', ')}`);
  return found;
};

function checkRun(traceName: string, userId: string, tags: string[]) {
  const root = span(otlp.spans, 'invoke_agent order-status');
  expect(root.attributes).toMatchObject({
    'langfuse.trace.name': traceName,
    'langfuse.user.id': userId,
    'langfuse.trace.tags': tags,
    'langfuse.trace.metadata.environment': 'scenario-env',
    'langfuse.trace.metadata.workflow': 'order-status',
    'langfuse.trace.metadata.region': 'eu',
  });
  expect(String(root.attributes['langfuse.session.id'])).toMatch(/^conv_[0-9a-f]{32}$/);
  const generation = otlp.spans.find((s) => s.traceId === root.traceId && s.name === 'openai.responses.create');
  return { root, generation: generation as ReceivedSpan };
}

describe('quality scenarios', () => {
  it('feedback prints `answer` and `score queued: …`, records the span and sends negative feedback on the generation', async () => {
    const result = await scenario('feedback');
    expect(result.stderr).not.toContain('"level":50');
    expect(result.code).toBe(0);
    const match = /^answer\nscore queued: user_feedback trace_id=([0-9a-f]{32}) environment=scenario-env\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const traceId = match?.[1] as string;

    const tags = ['order-status', 'feedback', 'manual-scenario'];
    const { root, generation } = checkRun('manual-feedback', 'usr_pseudo_feedback_demo', tags);
    expect(root.traceId).toBe(traceId);
    const feedback = span(otlp.spans, 'feedback.record user_rating');
    expect(feedback.attributes).toMatchObject({
      'app.feedback.type': 'user_rating',
      'app.feedback.value': 'negative',
      'app.feedback.source': 'api',
      'app.feedback.agent_version': 'scenario-test',
      'langfuse.trace.name': 'manual-feedback',
      'langfuse.user.id': 'usr_pseudo_feedback_demo',
      'langfuse.session.id': root.attributes['langfuse.session.id'],
      'langfuse.trace.tags': tags,
      'langfuse.trace.metadata.environment': 'scenario-env',
    });
    expect(feedback.links).toEqual([{ traceId, spanId: generation.spanId, attributes: { 'app.link.type': 'interaction' } }]);

    // Flushed before exit: the score is in Langfuse, on the generation.
    expect(langfuse.quality.scores.get(`${traceId}:user_feedback`)).toMatchObject({
      name: 'user_feedback',
      dataType: 'CATEGORICAL',
      stringValue: 'negative',
      traceId,
      observationId: generation.spanId,
      comment: 'rubric=user-feedback-v1',
      environment: 'scenario-env',
    });
    expect(langfuse.quality.scores.get(`${traceId}:answer_correctness`)).toMatchObject({ value: 1, dataType: 'BOOLEAN', observationId: generation.spanId });
  });

  it('negative-signal prints `answer` and `signal recorded: …` and records the signal span', async () => {
    const result = await scenario('negative-signal');
    expect(result.code).toBe(0);
    const match = /^answer\nsignal recorded: repeated_question trace_id=([0-9a-f]{32})\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const tags = ['order-status', 'negative-signal', 'manual-scenario'];
    const { root, generation } = checkRun('manual-negative-signal', 'usr_pseudo_signal_demo', tags);
    expect(root.traceId).toBe(match?.[1]);
    const signal = span(otlp.spans, 'signal.record repeated_question');
    expect(signal.attributes).toMatchObject({
      'app.signal.name': 'repeated_question',
      'app.signal.source': 'api',
      'app.signal.agent_version': 'scenario-test',
      'app.signal.used_for': 'triage_selector',
      'langfuse.trace.name': 'manual-negative-signal',
      'langfuse.trace.tags': tags,
    });
    expect(signal.links[0]).toMatchObject({ traceId: root.traceId, spanId: generation.spanId });
    // repeated_question is a selector only: no session score.
    expect([...langfuse.quality.scores.values()].map((s) => s.name).sort()).toEqual(['answer_correctness', 'policy_compliance']);
  });

  it('in local prompt mode prints the same lines, sends no score and says so', async () => {
    const result = await scenario('feedback', {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^answer\nscore queued: user_feedback trace_id=[0-9a-f]{32} environment=scenario-env\n$/);
    expect(result.stderr).toContain('quality scores (user_feedback, answer_correctness, policy_compliance, session_resolution) are NOT sent');
    expect(langfuse.quality.scoreRequests).toEqual([]);
  });

  it('exits non-zero when Langfuse refuses the score', async () => {
    langfuse.quality.setScoreFault({ status: 400, body: { message: 'Invalid request data', error: [] } });
    const result = await scenario('feedback');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('score queued: user_feedback');
    expect(result.stderr).toContain('scores could not be delivered to Langfuse');
  });
});
