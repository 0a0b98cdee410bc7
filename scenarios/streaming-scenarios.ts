import { manualInput, manualTraceContext, type Scenario } from './scenario.js';

/**
 * SPEC §12, the book's chapters 14 and 26: the answer streamed token by token (time to first token
 * on the `openai.*.stream` span) and the graph's progress streamed through the update sanitizer.
 */
const USER = 'usr_pseudo_stream_demo';
const TAGS = ['order-status', 'streaming', 'manual-scenario'];

/** The model streams the answer (consumed here, not printed); prints the outcome. */
export const stream: Scenario = async (ctx) => {
  const input = manualInput({ userId: USER, traceName: 'manual-stream', tags: TAGS });
  const run = await ctx.agent.stream(
    input,
    { traceContext: manualTraceContext(ctx, input.conversation_id, USER, 'manual-stream', TAGS), mustFetchPrompt: true },
    () => {},
  );
  // As the streaming route's `done` does: the run's quality checks and interaction id.
  ctx.quality.recordRun(run);
  ctx.print(run.state.outcome);
};

/** The escalation path (no model call); prints each sanitized update as one compact JSON line. */
export const graphUpdatesStream: Scenario = async (ctx) => {
  const traceName = 'manual-graph-updates-stream';
  const input = manualInput({ userId: USER, traceName, tags: TAGS, query: 'Where is my missing order?', orderReference: 'ORDER-404' });
  await ctx.agent.stream(input, { traceContext: manualTraceContext(ctx, input.conversation_id, USER, traceName, TAGS), mustFetchPrompt: true }, (event) => {
    if (event.type === 'update') ctx.print(JSON.stringify(event.update));
  });
};
