/**
 * How the SPEC's steps map onto LangGraph nodes. Both layouts run the same steps in the same
 * order with the same `workflow.node <step>` spans, iterations, budget checks and routing.
 * - `grouped` (default): the four deterministic context steps run inside ONE LangGraph node
 *   (`gather_and_classify`), so a run executes 2 LangGraph nodes instead of 5. LangGraph's cost is
 *   per node (~0.25 ms each on Node 24: config merging, a LangSmith RunTree and uuids even with
 *   tracing off), and this service uses none of what per-node granularity buys (no checkpointer,
 *   no per-node retry policy, no interrupts, no per-node streaming).
 * - `per-step`: one LangGraph node per step, as the SPEC draws the flow. Choose it if you add a
 *   checkpointer or human-in-the-loop and want to resume between steps.
 */
export const GRAPH_LAYOUTS = ['grouped', 'per-step'] as const;
export type GraphLayout = (typeof GRAPH_LAYOUTS)[number];

/** The LangGraph node that runs the four context steps in the `grouped` layout. */
export const GROUPED_CONTEXT_NODE = 'gather_and_classify';
