import type { AnswerModel, ModelRequest, ModelResult, ModelStreamPart } from '../../src/model/answer-model.js';
import { OfflineAnswerModel, wordDeltas } from '../../src/model/offline-model.js';

/** The offline model (no word delay), recording every request it receives (to assert "no model call"). */
export function recordingModel(): { calls: ModelRequest[]; model: AnswerModel } {
  const calls: ModelRequest[] = [];
  const offline = new OfflineAnswerModel({ wordDelayMs: 0 });
  const model: AnswerModel = {
    api: offline.api,
    serverAddress: offline.serverAddress,
    offline: true,
    generate: (request) => {
      calls.push(request);
      return offline.generate(request);
    },
    stream: (request) => {
      calls.push(request);
      return offline.stream(request);
    },
  };
  return { calls, model };
}

/** A model that always answers `text` (plainly or word by word). */
export function fixedAnswerModel(text: string): AnswerModel {
  const result: ModelResult = { text, responseModel: 'offline' };
  return {
    api: 'responses',
    serverAddress: 'offline',
    offline: true,
    generate: async () => result,
    async *stream(): AsyncGenerator<ModelStreamPart> {
      for (const word of wordDeltas(text)) yield { type: 'text', text: word };
      yield { type: 'done', result };
    },
  };
}
