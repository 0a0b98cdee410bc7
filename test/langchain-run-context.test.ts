import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { getContextVariable, setContextVariable } from '@langchain/core/context';
import { RunnableLambda } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { Annotation, END, getConfig, START, StateGraph } from '@langchain/langgraph';
import { RunTree } from 'langsmith';
import { describe, expect, it } from 'vitest';
import { hasLangSmithTracer, useLightweightRunContext } from '../src/agent/langchain-run-context.js';

/**
 * What a graph step can see through LangChain's AsyncLocalStorage, with the default (RunTree per
 * step) and with the lightweight run context the service installs. The tests run in this order:
 * vitest gives each file its own module graph, so the first test sees an untouched @langchain/core.
 */
class ChainStarts extends BaseCallbackHandler {
  name = 'chain-starts';
  readonly names: string[] = [];
  override handleChainStart(_chain: unknown, _inputs: unknown, _runId: string, _parent?: string, _tags?: string[], _metadata?: unknown, _type?: string, runName?: string) {
    if (runName) this.names.push(runName);
  }
}

const State = Annotation.Root({ seen: Annotation<Record<string, unknown>>({ reducer: (_, next) => next, default: () => ({}) }) });

/** One step that reads what a node can read implicitly (no config passed down by hand). */
function probeGraph() {
  const nested = RunnableLambda.from(async () => 'nested-result').withConfig({ runName: 'nested' });
  return new StateGraph(State)
    .addNode('probe', async () => ({
      seen: {
        configurable: getConfig().configurable?.['probe_value'],
        contextVariable: getContextVariable('tenant'),
        storeIsRunTree: AsyncLocalStorageProviderSingleton.getInstance().getStore() instanceof RunTree,
        nested: await nested.invoke(undefined),
      },
    }))
    .addEdge(START, 'probe')
    .addEdge('probe', END)
    .compile();
}

async function probe() {
  const handler = new ChainStarts();
  setContextVariable('tenant', 'acme');
  const state = await probeGraph().invoke({}, { configurable: { probe_value: 42 }, callbacks: [handler] });
  return { seen: state.seen, chainStarts: handler.names };
}

/**
 * What a caller that avoids the RunTree (a stream reader pulling the next chunk) leaves in the
 * store, outside any context variable and inside one.
 */
function storesWhenAvoidingRunTree() {
  const provider = AsyncLocalStorageProviderSingleton;
  const config = { configurable: { probe_value: 1 }, callbacks: [new ChainStarts()] };
  const bare = provider.getInstance().run(undefined, () => provider.runWithConfig(config, () => provider.getInstance().getStore(), true));
  const withVariable = provider.getInstance().run(undefined, () => {
    setContextVariable('tenant', 'acme');
    return provider.runWithConfig(config, () => getContextVariable('tenant'), true);
  });
  return { bare, withVariable };
}

let coreStores: ReturnType<typeof storesWhenAvoidingRunTree> | undefined;

describe('LangChain run context', () => {
  it('stays the default (a RunTree per step) while LangSmith tracing is on', async () => {
    expect(useLightweightRunContext({ LANGSMITH_TRACING: 'true' })).toBe('langsmith');
    expect(useLightweightRunContext({ LANGCHAIN_TRACING_V2: 'TRUE' })).toBe('langsmith');
    const { seen } = await probe();
    expect(seen.storeIsRunTree).toBe(true);
    coreStores = storesWhenAvoidingRunTree();
    expect(coreStores).toEqual({ bare: undefined, withVariable: 'acme' });
  });

  it('lightweight: a caller that avoids the RunTree gets what core gives it', () => {
    expect(useLightweightRunContext({})).toBe('lightweight');
    expect(storesWhenAvoidingRunTree()).toEqual(coreStores);
  });

  it('lightweight: no RunTree per step, and a step still sees its config, context variables and callbacks', async () => {
    expect(useLightweightRunContext({})).toBe('lightweight');
    const { seen, chainStarts } = await probe();
    expect(seen).toEqual({ configurable: 42, contextVariable: 'acme', storeIsRunTree: false, nested: 'nested-result' });
    // The nested runnable inherited the invoke's callbacks through the store.
    expect(chainStarts).toContain('nested');
  });

  it('recognises a LangSmith tracer in a step config, as a handler list or inside a manager', () => {
    const tracer = { name: 'langchain_tracer' };
    expect(hasLangSmithTracer({ callbacks: [tracer] })).toBe(true);
    expect(hasLangSmithTracer({ callbacks: { handlers: [{ name: 'other' }, tracer] } })).toBe(true);
    expect(hasLangSmithTracer({ callbacks: [{ name: 'other' }] })).toBe(false);
    expect(hasLangSmithTracer(undefined)).toBe(false);
  });
});
