/**
 * Answer modes for the OpenAI stand-in (`answer` option, or `--answer` standalone) that behave like
 * a model reading the prompt, so the release gate can be exercised end to end:
 *  - `groundedAnswer`: states the order state and the policy documents the prompt gave it;
 *  - `uselessFor(marker)`: a polite non-answer whenever the system message contains `marker`
 *    (i.e. for one prompt version), grounded otherwise;
 *  - `verboseFor(marker)`: the grounded answer padded to several times its length (more output
 *    tokens, so more cost) for the version whose system message contains `marker`.
 */
import type { OpenAIEndpoint } from './openai-stand-in.js';

export const USELESS_ANSWER = 'Thank you for reaching out! We appreciate your patience.';

interface Message {
  role: string;
  text: string;
}

/** Chat Completions `messages` or Responses `input`, content as a string or as content parts. */
export function requestMessages(body: Record<string, unknown>, endpoint: OpenAIEndpoint): Message[] {
  const list = endpoint === 'chat.completions' ? body.messages : body.input;
  if (typeof list === 'string') return [{ role: 'user', text: list }];
  if (!Array.isArray(list)) return [];
  const messages: Message[] = [];
  for (const entry of list as { role?: unknown; content?: unknown }[]) {
    const content = entry.content;
    const text =
      typeof content === 'string'
        ? content
        : Array.isArray(content)
          ? (content as { text?: unknown }[]).map((part) => (typeof part.text === 'string' ? part.text : '')).join('')
          : '';
    messages.push({ role: String(entry.role ?? 'user'), text });
  }
  if (typeof body.instructions === 'string') messages.unshift({ role: 'system', text: body.instructions });
  return messages;
}

function field(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
}

/** What a careful model would say from the compiled user message of order-status-answer. */
export function groundedAnswer(body: Record<string, unknown>, endpoint: OpenAIEndpoint): string {
  const user = requestMessages(body, endpoint).findLast((m) => m.role === 'user')?.text ?? '';
  const state = (field(user, 'Order state') || 'unknown').replace(/_/g, ' ');
  const policies = field(user, 'Policy document IDs') || 'none';
  return `Your order is currently ${state}. I checked the support policies ${policies}.`;
}

export function uselessFor(marker: string, otherwise = groundedAnswer): (body: Record<string, unknown>, endpoint: OpenAIEndpoint) => string {
  return (body, endpoint) => {
    const system = requestMessages(body, endpoint).find((m) => m.role === 'system' || m.role === 'developer')?.text ?? '';
    return system.includes(marker) ? USELESS_ANSWER : otherwise(body, endpoint);
  };
}

/** Grounded, then padding: the same facts at several times the output tokens. */
export function verboseFor(marker: string, otherwise = groundedAnswer): (body: Record<string, unknown>, endpoint: OpenAIEndpoint) => string {
  return (body, endpoint) => {
    const system = requestMessages(body, endpoint).find((m) => m.role === 'system' || m.role === 'developer')?.text ?? '';
    if (!system.includes(marker)) return otherwise(body, endpoint);
    const padding = ' Please let us know if there is anything else we can help you with today, we are always happy to help.';
    return `${groundedAnswer(body, endpoint)}${padding.repeat(6)}`;
  };
}
