import type { Span } from '@opentelemetry/api';
import { PromptUnavailableError, PromptVariablesMismatchError } from '../../errors.js';
import { callModel, streamModel, type ModelCallRequest } from '../../model/model-call.js';
import type { ResolvedPrompt } from '../../prompts/prompt-resolver.js';
import { compilePrompt, DEFAULT_PROMPT_LABEL, type PromptVariables } from '../../prompts/prompt-template.js';
import type { AgentDeps } from '../agent-deps.js';
import type { NodeBody } from '../traced-node.js';
import type { AgentStateType } from '../state.js';
import type { StreamChunk } from '../stream-updates.js';

/** Lists are formatted deliberately (`a, b`), not left to the template engine. */
export function promptVariables(state: AgentStateType): PromptVariables {
  return {
    query: state.query,
    region: state.region,
    order_state: state.order_state || 'unknown',
    policy_document_ids: state.policy_document_ids.join(', '),
    memory_record_types: state.memory_record_types.join(', '),
  };
}

/**
 * `app.prompt.fetch.*` and the `prompt.cache_fallback` event (SPEC §4). Langfuse drops span
 * events, so a cache fallback also sets the observation level and status message it keeps.
 */
function recordPromptSource(span: Span, label: string, resolved: ResolvedPrompt): void {
  span.setAttributes({
    'app.prompt.label': label,
    'app.prompt.fetch.source': resolved.source,
    'app.prompt.version': resolved.template.version,
  });
  if (resolved.source === 'cache') {
    const type = resolved.fallbackErrorType ?? 'Unknown';
    span.setAttributes({
      'app.prompt.fetch.error_type': type,
      'langfuse.observation.level': 'WARNING',
      'langfuse.observation.status_message': `prompt served from cache: ${type}`,
    });
    span.addEvent('prompt.cache_fallback', { 'app.prompt.label': label, 'error.type': type });
  }
}

/**
 * Pulls `order-status-answer` by label, checks the variable contract, compiles
 * it and calls the model (streamed when the run streams). Fails closed (no
 * model call) when no usable prompt exists or the variables do not match.
 */
export const composeAnswer =
  (deps: AgentDeps): NodeBody =>
  async (state, span, scope, config) => {
    const label = state.prompt_label || DEFAULT_PROMPT_LABEL;
    let resolved: ResolvedPrompt;
    try {
      resolved = await deps.prompts.resolve(label, { mustFetch: scope.mustFetchPrompt });
    } catch (error) {
      if (error instanceof PromptUnavailableError) {
        span.setAttributes({ 'app.prompt.label': label, 'app.prompt.fetch.source': 'unavailable', 'app.prompt.fetch.error_type': error.causeType });
      }
      throw error;
    }
    recordPromptSource(span, label, resolved);
    const { template } = resolved;

    let messages;
    try {
      messages = compilePrompt(template, promptVariables(state));
    } catch (error) {
      if (error instanceof PromptVariablesMismatchError) {
        span.setAttributes({
          'app.prompt.validation': 'failed',
          'app.prompt.validation.missing_variables': [...error.missing],
          'app.prompt.validation.unexpected_variables': [...error.unexpected],
        });
      }
      throw error;
    }
    span.setAttribute('app.prompt.validation', 'passed');

    scope.budget.beforeModelCall();
    const request: ModelCallRequest = {
      messages,
      model: template.modelConfig.model ?? deps.defaultModel,
      temperature: template.modelConfig.temperature,
      maxOutputTokens: template.modelConfig.maxOutputTokens,
      // Only a prompt that came from Langfuse (fresh or cached) is linked: a local file's version
      // numbers mean nothing to the Langfuse project that receives the trace.
      ...(deps.prompts.sourceKind === 'langfuse' ? { promptLink: { name: template.name, version: template.version, label } } : {}),
      promptVersion: template.version,
    };
    const streaming = scope.stream;
    const writer = config?.writer;
    const result =
      streaming && writer
        ? await streamModel(deps.modelCall, request, {
            cancel: streaming.signal,
            // Each delta goes to LangGraph's `custom` stream; the flow gate holds the model back
            // while the client is behind (token-flow.ts).
            onText: (text) => {
              writer({ kind: 'token', text } satisfies StreamChunk);
              return streaming.tokens.sent();
            },
          })
        : await callModel(deps.modelCall, request);

    const capture = deps.capture.project(result.text);
    span.setAttributes({ 'app.capture.mode': capture.capture_mode, 'app.capture.policy_version': capture.capture_policy_version });
    if (capture.redacted_preview !== undefined) span.setAttribute('app.capture.answer_preview', capture.redacted_preview);

    return {
      answer: result.text,
      capture_mode: capture.capture_mode,
      capture_policy_version: capture.capture_policy_version,
      prompt_name: template.name,
      prompt_version: template.version,
      prompt_label: label,
      prompt_source: resolved.source,
      generation_span_id: result.spanId ?? '',
    };
  };
