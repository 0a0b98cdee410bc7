import { setTimeout as delay } from 'node:timers/promises';
import type { AnswerModel, ModelRequest, ModelResult, ModelStreamPart } from './answer-model.js';

const FIELD = /^(Order state|Region|Policy document IDs):\s*(.*)$/gm;

export interface OfflineModelOptions {
  /** Pause between streamed words, so a terminal shows the answer being written (default 10 ms). */
  wordDelayMs?: number;
}

/** Deltas as a provider sends them: whitespace attached to the word that follows it. */
export function wordDeltas(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [text];
}

/**
 * The embedded default when no OPENAI_API_KEY is set: a deterministic answer
 * built from the compiled prompt's variables, so the whole pipeline (prompt,
 * graph, spans, streaming) runs offline. Announced at start-up; model name `offline`.
 */
export class OfflineAnswerModel implements AnswerModel {
  readonly api = 'responses';
  readonly serverAddress = 'offline';
  readonly offline = true;
  private sequence = 0;
  private readonly wordDelayMs: number;

  constructor(options: OfflineModelOptions = {}) {
    this.wordDelayMs = options.wordDelayMs ?? 10;
  }

  generate(request: ModelRequest): Promise<ModelResult> {
    const user = request.messages.findLast((m) => m.role === 'user')?.content ?? '';
    const fields = new Map<string, string>();
    for (const match of user.matchAll(FIELD)) fields.set(match[1] as string, (match[2] as string).trim());
    const state = fields.get('Order state') || 'unknown';
    const policies = fields.get('Policy document IDs') || 'none';
    const text =
      `Your order is currently ${state.replace(/_/g, ' ')}. ` +
      `This answer follows the support policies ${policies}. (offline model: set OPENAI_API_KEY for real answers)`;
    this.sequence += 1;
    const inputTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    return Promise.resolve({
      text,
      responseModel: 'offline',
      responseId: `offline_${this.sequence}`,
      usage: { inputTokens, outputTokens: Math.ceil(text.length / 4) },
    });
  }

  /** The same answer, word by word. */
  async *stream(request: ModelRequest): AsyncGenerator<ModelStreamPart> {
    const result = await this.generate(request);
    for (const [i, word] of wordDeltas(result.text).entries()) {
      if (i > 0 && this.wordDelayMs > 0) await delay(this.wordDelayMs, undefined, { signal: request.signal });
      request.signal.throwIfAborted();
      yield { type: 'text', text: word };
    }
    yield { type: 'done', result };
  }
}
