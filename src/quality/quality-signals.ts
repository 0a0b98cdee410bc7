import { TraceFlags, type Link, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { AgentRun } from '../agent/order-status-agent.js';
import { withTraceContext, type TraceContext } from '../telemetry/trace-context.js';
import { answerCorrectness, ANSWER_CORRECTNESS_RUBRIC, POLICY_COMPLIANCE_RUBRIC, policyViolations } from './answer-checks.js';
import { InteractionForbiddenError, type Interaction, type InteractionIds } from './interaction-id.js';
import type { ScoreBody, ScoreSink } from './score-sink.js';

export const FEEDBACK_VALUES = ['positive', 'negative'] as const;
export type FeedbackValue = (typeof FEEDBACK_VALUES)[number];

/** Negative signals (book ch-17): selectors for review, not correctness labels. */
export const NEGATIVE_SIGNALS = ['repeated_question', 'user_reformulated_request', 'conversation_abandoned', 'human_takeover'] as const;
export type NegativeSignal = (typeof NEGATIVE_SIGNALS)[number];

/** The signals that end a session, and the `session_resolution` they record. */
const SESSION_RESOLUTIONS: Partial<Record<NegativeSignal, 'abandoned' | 'escalated'>> = {
  conversation_abandoned: 'abandoned',
  human_takeover: 'escalated',
};

export const USER_FEEDBACK_RUBRIC = 'user-feedback-v1';
export const SESSION_RESOLUTION_RUBRIC = 'session-resolution-v1';

/** Trace name and tags of the trace a feedback or signal span is recorded in. */
export interface SignalTrace {
  name: string;
  tags: readonly string[];
}

export const API_FEEDBACK_TRACE: SignalTrace = { name: 'order-status-feedback', tags: ['order-status', 'feedback', 'http'] };
export const API_SIGNAL_TRACE: SignalTrace = { name: 'order-status-signal', tags: ['order-status', 'negative-signal', 'http'] };

export interface FeedbackReceipt {
  interaction: Interaction;
  /** `<trace_id>:user_feedback`; undefined when the interaction has no trace (tracing was off). */
  scoreId?: string;
  /** The §5 attributes the feedback was recorded with (the HTTP span gets them too). */
  traceContext: TraceContext;
}

export interface SignalReceipt {
  interaction: Interaction;
  /** `<conversation_id>:session_resolution` for signals that end a session. */
  scoreId?: string;
  traceContext: TraceContext;
}

export interface QualitySignalsDeps {
  tracer: Tracer;
  scores: ScoreSink;
  interactions: InteractionIds;
  /** DEPLOYMENT_ENVIRONMENT: every score's `environment`, so it lands next to its trace in Langfuse. */
  environment: string;
  agentVersion: string;
  logger: Logger;
}

/**
 * Quality signals (book ch-17, ch-20; SPEC §9), one home for the three edges
 * that produce them: a finished run (deterministic checks + its interaction id),
 * user feedback and negative signals. HTTP routes and scenarios call the same
 * methods. Nothing here waits on Langfuse: scores go to the sink's queue.
 */
export class QualitySignals {
  constructor(private readonly deps: QualitySignalsDeps) {}

  get scores(): ScoreSink {
    return this.deps.scores;
  }

  /**
   * After a run: queues `answer_correctness` and `policy_compliance` when it
   * answered, and returns its interaction id (the handle for feedback and signals).
   */
  recordRun(run: AgentRun): string {
    const { state, traceId } = run;
    const generationSpanId = state.generation_span_id || undefined;
    if (state.outcome === 'answer' && traceId) {
      const target = { traceId, ...(generationSpanId ? { observationId: generationSpanId } : {}) };
      const violations = policyViolations(state);
      this.enqueue({
        id: `${traceId}:answer_correctness`,
        name: 'answer_correctness',
        value: answerCorrectness(state),
        dataType: 'BOOLEAN',
        ...target,
        comment: `rubric=${ANSWER_CORRECTNESS_RUBRIC}`,
      });
      this.enqueue({
        id: `${traceId}:policy_compliance`,
        name: 'policy_compliance',
        value: violations.length === 0 ? 'pass' : 'fail',
        dataType: 'CATEGORICAL',
        ...target,
        comment: `rubric=${POLICY_COMPLIANCE_RUBRIC}`,
        ...(violations.length > 0 ? { metadata: { violations } } : {}),
      });
    }
    return this.deps.interactions.mint({
      traceId,
      generationSpanId,
      runSpanId: run.spanId,
      conversationId: state.conversation_id,
      userId: state.user_id,
      region: state.region,
      ...(state.prompt_name ? { prompt: { name: state.prompt_name, version: state.prompt_version, label: state.prompt_label } } : {}),
    });
  }

  /** The interaction behind an id, if it is valid and belongs to `userId`; throws otherwise (nothing recorded). */
  authorize(interactionId: string, userId: string): Interaction {
    let interaction: Interaction;
    try {
      interaction = this.deps.interactions.verify(interactionId);
    } catch (error) {
      this.deps.logger.debug({ reason: (error as { reason?: string }).reason }, 'interaction id refused');
      throw error;
    }
    if (interaction.userId !== userId) throw new InteractionForbiddenError('this interaction belongs to another user');
    return interaction;
  }

  /** `feedback.record user_rating` + the `user_feedback` score (one vote per answer: a resubmission overwrites). */
  submitFeedback(input: { interactionId: string; userId: string; value: FeedbackValue }, trace: SignalTrace = API_FEEDBACK_TRACE): FeedbackReceipt {
    const interaction = this.authorize(input.interactionId, input.userId);
    const traceContext = this.traceContext(interaction, trace);
    const scoreId = interaction.traceId ? `${interaction.traceId}:user_feedback` : undefined;
    this.inSpan('feedback.record user_rating', interaction, traceContext, {
      'app.feedback.type': 'user_rating',
      'app.feedback.value': input.value,
      'app.feedback.agent_version': this.deps.agentVersion,
      'app.feedback.source': 'api',
    });
    if (interaction.traceId && scoreId) {
      this.enqueue({
        id: scoreId,
        name: 'user_feedback',
        value: input.value,
        dataType: 'CATEGORICAL',
        traceId: interaction.traceId,
        // On the generation: what lets Langfuse group votes by prompt version.
        ...(interaction.generationSpanId ? { observationId: interaction.generationSpanId } : {}),
        comment: `rubric=${USER_FEEDBACK_RUBRIC}`,
        metadata: { feedback_type: 'user_rating', source: 'api', agent_version: this.deps.agentVersion },
      });
    } else {
      this.deps.logger.debug('feedback on an untraced interaction: no trace to attach a score to');
    }
    return { interaction, traceContext, ...(scoreId ? { scoreId } : {}) };
  }

  /** `signal.record <signal>`; `conversation_abandoned` / `human_takeover` also score the session. */
  submitSignal(input: { interactionId: string; userId: string; signal: NegativeSignal }, trace: SignalTrace = API_SIGNAL_TRACE): SignalReceipt {
    const interaction = this.authorize(input.interactionId, input.userId);
    const traceContext = this.traceContext(interaction, trace);
    this.inSpan(`signal.record ${input.signal}`, interaction, traceContext, {
      'app.signal.name': input.signal,
      'app.signal.source': 'api',
      'app.signal.agent_version': this.deps.agentVersion,
      'app.signal.used_for': 'triage_selector',
    });
    const resolution = SESSION_RESOLUTIONS[input.signal];
    if (!resolution) return { interaction, traceContext };
    const scoreId = `${interaction.conversationId}:session_resolution`;
    this.enqueue({
      id: scoreId,
      name: 'session_resolution',
      value: resolution,
      dataType: 'CATEGORICAL',
      sessionId: interaction.conversationId,
      comment: `rubric=${SESSION_RESOLUTION_RUBRIC}`,
      metadata: { signal: input.signal, source: 'api', agent_version: this.deps.agentVersion },
    });
    return { interaction, traceContext, scoreId };
  }

  // ---------------------------------------------------------------------------------------------

  private enqueue(score: Omit<ScoreBody, 'environment'>): void {
    this.deps.scores.enqueue({ ...score, environment: this.deps.environment });
  }

  private traceContext(interaction: Interaction, trace: SignalTrace): TraceContext {
    return {
      sessionId: interaction.conversationId,
      userId: interaction.userId,
      traceName: trace.name,
      version: this.deps.agentVersion,
      tags: trace.tags,
      metadata: { environment: this.deps.environment, workflow: 'order-status', region: interaction.region },
    };
  }

  /** A short span with the interaction's §5 context and a link to the interaction's trace. */
  private inSpan(name: string, interaction: Interaction, traceContext: TraceContext, attributes: Record<string, string>): void {
    const linked = interaction.generationSpanId ?? interaction.runSpanId;
    const links: Link[] =
      interaction.traceId && linked
        ? [{ context: { traceId: interaction.traceId, spanId: linked, traceFlags: TraceFlags.SAMPLED, isRemote: true }, attributes: { 'app.link.type': 'interaction' } }]
        : [];
    withTraceContext(traceContext, () => this.deps.tracer.startSpan(name, { links, attributes }).end());
  }
}
