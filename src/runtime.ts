import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { AgentDeps } from './agent/agent-deps.js';
import { useLightweightRunContext } from './agent/langchain-run-context.js';
import { OrderStatusAgent } from './agent/order-status-agent.js';
import { systemClock, type Clock } from './clock.js';
import type { Settings } from './config/settings.js';
import { MemoryStore } from './domain/memory.js';
import { OrderStatusTool } from './domain/orders.js';
import { PolicyRetriever } from './domain/policies.js';
import type { AnswerModel } from './model/answer-model.js';
import { ModelCallRecorder } from './model/model-call-outcome.js';
import { OfflineAnswerModel } from './model/offline-model.js';
import { createNodeHttpFetch } from './model/node-http-fetch.js';
import { OpenAiAnswerModel } from './model/openai-model.js';
import { PriceCatalog } from './model/price-catalog.js';
import { LangfusePromptSource } from './prompts/langfuse-prompt-source.js';
import { LocalPromptSource } from './prompts/local-prompt-source.js';
import { FilePromptSnapshot, type PromptSnapshotStore } from './prompts/prompt-snapshot.js';
import type { PromptSource, VersionedPromptSource } from './prompts/prompt-source.js';
import { PromptResolver } from './prompts/prompt-resolver.js';
import { PROMPT_NAME } from './prompts/prompt-template.js';
import { InteractionIds } from './quality/interaction-id.js';
import { langfuseScoreTransport } from './quality/langfuse-score-transport.js';
import { QualitySignals } from './quality/quality-signals.js';
import { DisabledScoreSink, QueuedScoreSink, type ScoreObserver, type ScoreSink } from './quality/score-sink.js';
import { CapturePolicy } from './telemetry/capture-policy.js';
import { ServiceMetrics } from './telemetry/metrics.js';

/** The edges tests and scenarios swap without monkey-patching. */
export interface RuntimeOverrides {
  promptSource?: PromptSource;
  model?: AnswerModel;
  clock?: Clock;
  /** Default: instruments on the global MeterProvider (the NodeSDK's; no-op when metrics are off). */
  metrics?: ServiceMetrics;
  /** Default: MODEL_PRICES_FILE, loaded and validated here. */
  prices?: PriceCatalog;
  deps?: Partial<AgentDeps>;
  /** Where scores go (tests: a recording sink). */
  scoreSink?: ScoreSink;
  /** Sees every score as it is queued or dropped (e.g. a metrics counter); ignored with `scoreSink`. */
  scoreObserver?: ScoreObserver;
  /** The service's prompt snapshot (createPromptSnapshot); CLIs and tests run without one. */
  promptSnapshot?: PromptSnapshotStore;
}

export interface Runtime {
  agent: OrderStatusAgent;
  prompts: PromptResolver;
  model: AnswerModel;
  /** For the HTTP layer (and the score sink): the same instruments the agent records on. */
  metrics: ServiceMetrics;
  /** Runs, feedback and signals → spans and scores (SPEC §9). */
  quality: QualitySignals;
  /** Flush it on shutdown (server.ts, the CLIs). */
  scores: ScoreSink;
}

export function createPromptSource(settings: Settings): VersionedPromptSource {
  const { langfuse, prompts } = settings;
  if (prompts.source === 'local') return LocalPromptSource.fromPath(prompts.localFile);
  return new LangfusePromptSource({
    publicKey: langfuse.publicKey as string,
    secretKey: langfuse.secretKey as string,
    baseUrl: langfuse.baseUrl,
    fetchTimeoutMs: prompts.fetchTimeoutMs,
  });
}

/** The prompt snapshot of SPEC §11 (Langfuse mode only; PROMPT_SNAPSHOT_FILE=off disables it). */
export function createPromptSnapshot(settings: Settings, logger: Logger): PromptSnapshotStore | undefined {
  const file = settings.fleet.promptSnapshotFile;
  if (!file || settings.prompts.source !== 'langfuse') return undefined;
  return new FilePromptSnapshot({
    file,
    promptName: PROMPT_NAME,
    langfuseBaseUrl: settings.langfuse.baseUrl,
    langfusePublicKey: settings.langfuse.publicKey as string,
    logger: logger.child({ component: 'prompt-snapshot' }),
  });
}

export function createModel(settings: Settings): AnswerModel {
  const { openai } = settings;
  if (openai.offline || !openai.apiKey) return new OfflineAnswerModel();
  return new OpenAiAnswerModel({
    apiKey: openai.apiKey,
    baseUrl: openai.baseUrl,
    api: openai.api,
    attemptTimeoutMs: openai.attemptTimeoutMs,
    ...(openai.httpClient === 'node-http' ? { fetch: createNodeHttpFetch() } : {}),
  });
}

/**
 * Scores to Langfuse (`POST /api/public/scores`) through a bounded background
 * queue in Langfuse prompt mode; counted and discarded in local mode. Also what
 * other features (evaluators) use to post any score body.
 */
export function createScoreSink(settings: Settings, logger: Logger, observer?: ScoreObserver): ScoreSink {
  const { langfuse, quality } = settings;
  if (!quality.sendScores || !langfuse.publicKey || !langfuse.secretKey) return new DisabledScoreSink(observer);
  return new QueuedScoreSink({
    transport: langfuseScoreTransport({
      publicKey: langfuse.publicKey,
      secretKey: langfuse.secretKey,
      baseUrl: langfuse.baseUrl,
      requestTimeoutMs: quality.scoreRequestTimeoutMs,
    }),
    logger: logger.child({ component: 'scores' }),
    capacity: quality.scoreQueueSize,
    concurrency: quality.scoreConcurrency,
    maxDelayMs: quality.scoreRetryMaxDelayMs,
    observer,
  });
}

/** Composition root: settings → prompt resolver, model, domain stand-ins → the agent (graph compiled once). */
export function createRuntime(settings: Settings, logger: Logger, tracer: Tracer, overrides: RuntimeOverrides = {}): Runtime {
  const metrics = overrides.metrics ?? ServiceMetrics.fromGlobal(settings.service.agentVersion);
  // Read once at start-up: a bad catalog stops start-up (ConfigError naming MODEL_PRICES_FILE).
  const prices = overrides.prices ?? PriceCatalog.load(settings.cost.pricesFile);
  if (useLightweightRunContext() === 'langsmith') {
    logger.info('LangSmith tracing is on: LangChain keeps a RunTree per graph step (more CPU per request)');
  }
  const prompts = new PromptResolver({
    promptName: PROMPT_NAME,
    source: overrides.promptSource ?? createPromptSource(settings),
    clock: overrides.clock ?? systemClock,
    logger: logger.child({ component: 'prompts' }),
    ttlSeconds: settings.prompts.cacheTtlSeconds,
    maxStaleSeconds: settings.prompts.maxStaleSeconds,
    fetchTimeoutMs: settings.prompts.fetchTimeoutMs,
    metrics,
    snapshot: overrides.promptSnapshot,
  });
  const model = overrides.model ?? createModel(settings);
  const deps: AgentDeps = {
    tracer,
    metrics,
    logger,
    prompts,
    modelCall: {
      tracer,
      model,
      recorder: new ModelCallRecorder({ metrics, prices, logger: logger.child({ component: 'model-cost' }) }),
      fallbackModel: settings.openai.fallbackModel,
      retry: {
        maxRetries: settings.openai.maxRetries,
        attemptTimeoutMs: settings.openai.attemptTimeoutMs,
        requestTimeoutMs: settings.openai.requestTimeoutMs,
        baseDelayMs: 250,
        maxDelayMs: 2_000,
      },
    },
    defaultModel: model.offline ? 'offline' : settings.openai.model,
    orders: new OrderStatusTool(),
    policies: new PolicyRetriever(),
    memory: new MemoryStore(),
    capture: new CapturePolicy(settings.service.captureMode),
    budget: settings.budget,
    graphLayout: settings.graphLayout,
    agentVersion: settings.service.agentVersion,
    ...overrides.deps,
  };
  const clock = overrides.clock ?? systemClock;
  // Every score produced (queued, dropped or not sent in local mode) is a vote: app.feedback.scores counts it.
  const observeScore: ScoreObserver = (score, outcome) => {
    metrics.recordFeedbackScore(score.name, score.value);
    overrides.scoreObserver?.(score, outcome);
  };
  const scores = overrides.scoreSink ?? createScoreSink(settings, logger, observeScore);
  const quality = new QualitySignals({
    tracer,
    scores,
    interactions: new InteractionIds({
      // No key configured (development only): ids verify in this process only.
      keys: settings.quality.signingKeys.length > 0 ? settings.quality.signingKeys : [InteractionIds.randomKey()],
      ttlSeconds: settings.quality.interactionTtlSeconds,
      clock,
    }),
    environment: settings.service.environment,
    agentVersion: settings.service.agentVersion,
    logger: logger.child({ component: 'quality' }),
  });
  return { agent: new OrderStatusAgent(deps), prompts, model, metrics, quality, scores };
}

/** Says loudly which embedded defaults are in use. */
export function announceDefaults(settings: Settings, logger: Logger): void {
  if (settings.openai.offline) {
    logger.warn('OPENAI_API_KEY is not set: answers come from the OFFLINE deterministic model (model name "offline"), not OpenAI');
  } else {
    logger.info({ model: settings.openai.model, api: settings.openai.api, baseUrl: settings.openai.baseUrl ?? 'https://api.openai.com/v1' }, 'model provider: OpenAI');
  }
  if (settings.service.apiKeys.length === 0) {
    logger.warn('SERVICE_API_KEYS is not set: POST /order-status, /feedback and /signals accept unauthenticated requests (refused in production)');
  }
  if (settings.prompts.source === 'local') {
    logger.warn({ file: settings.prompts.localFile }, 'Langfuse keys are not set: prompts come from the LOCAL prompt file (prompt source "local"), not Langfuse');
  } else {
    logger.info({ baseUrl: settings.langfuse.baseUrl }, 'prompt source: Langfuse prompt management');
  }
  if (settings.quality.signingKeys.length === 0) {
    logger.warn(
      'INTERACTION_SIGNING_KEY is not set: interaction ids are signed with a random per-process key, so feedback on them fails after a restart or on another replica (refused in production)',
    );
  }
  if (!settings.quality.sendScores) {
    logger.warn('local prompt mode: quality scores (user_feedback, answer_correctness, policy_compliance, session_resolution) are NOT sent to Langfuse; feedback and signal spans still are');
  }
}
