import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';

/**
 * @langchain/core runs every Runnable step (each LangGraph node, channel write and branch) inside
 * `AsyncLocalStorageProviderSingleton.runWithConfig`, which builds a LangSmith RunTree (a uuid7,
 * an ISO timestamp, a dozen environment reads) only to carry the step's config in
 * AsyncLocalStorage — with LangSmith tracing off too. That was ~18% of this service's CPU per
 * request on Node 24. Upstream tried to skip it (langchain-ai/langchainjs#10043, closed unmerged).
 *
 * This service traces with OpenTelemetry, never LangSmith. With LangSmith tracing off, the
 * RunTree is never sent anywhere; what readers of the store use is `extra[lc:child_config]`
 * (getConfig(), nested runnables) and the context variables, and core itself already stores a
 * plain object when it has no RunTree. So steps get that plain object instead. A config that
 * carries a LangSmith tracer, or LangSmith tracing turned on by environment, keeps the original.
 */
const LC_CHILD_KEY = Symbol.for('lc:child_config');
const CONTEXT_VARIABLES_KEY = Symbol.for('lc:context_variables');
const LANGSMITH_TRACING_VARIABLES = ['LANGSMITH_TRACING_V2', 'LANGSMITH_TRACING', 'LANGCHAIN_TRACING_V2', 'LANGCHAIN_TRACING'];

type RunWithConfig = (config: unknown, callback: () => unknown, avoidCreatingRootRunTree?: boolean) => unknown;
interface Provider {
  runWithConfig: RunWithConfig;
  getInstance(): { getStore(): unknown; run(store: unknown, callback: () => unknown): unknown };
}

let installed = false;

export type RunContextMode = 'lightweight' | 'langsmith';

/** Installs the lightweight run context once per process; says which mode is in effect. */
export function useLightweightRunContext(env: NodeJS.ProcessEnv = process.env): RunContextMode {
  if (installed) return 'lightweight';
  if (LANGSMITH_TRACING_VARIABLES.some((name) => env[name]?.toLowerCase() === 'true')) return 'langsmith';
  const provider = AsyncLocalStorageProviderSingleton as unknown as Provider;
  const original = provider.runWithConfig.bind(provider);
  provider.runWithConfig = function runWithConfig(config, callback, avoidCreatingRootRunTree) {
    if (hasLangSmithTracer(config)) return original(config, callback, avoidCreatingRootRunTree);
    const storage = provider.getInstance();
    const previous = storage.getStore() as Record<symbol, unknown> | undefined;
    const contextVariables = previous?.[CONTEXT_VARIABLES_KEY];
    if (avoidCreatingRootRunTree === true) {
      // What core stores here without a tracer (only the context variables, if any), minus its
      // callback-manager build: stream readers call this once per chunk pulled.
      return storage.run(contextVariables === undefined ? undefined : { [CONTEXT_VARIABLES_KEY]: contextVariables }, callback);
    }
    const store: Record<string | symbol, unknown> = { extra: { [LC_CHILD_KEY]: config } };
    if (contextVariables !== undefined) store[CONTEXT_VARIABLES_KEY] = contextVariables;
    return storage.run(store, callback);
  };
  installed = true;
  return 'lightweight';
}

/** Whether a step config carries a LangSmith tracer (its own handler or inside a CallbackManager). */
export function hasLangSmithTracer(config: unknown): boolean {
  const callbacks = (config as { callbacks?: unknown } | undefined)?.callbacks;
  const handlers = Array.isArray(callbacks) ? callbacks : (callbacks as { handlers?: unknown[] } | undefined)?.handlers;
  return handlers?.some((handler) => (handler as { name?: string } | undefined)?.name === 'langchain_tracer') ?? false;
}
