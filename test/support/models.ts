import type { AnswerModel, ModelRequest } from '../../src/model/answer-model.js';
import { OfflineAnswerModel } from '../../src/model/offline-model.js';

/** The offline model, recording every request it receives (to assert "no model call"). */
export function recordingModel(): { calls: ModelRequest[]; model: AnswerModel } {
  const calls: ModelRequest[] = [];
  const offline = new OfflineAnswerModel();
  const model: AnswerModel = {
    api: offline.api,
    serverAddress: offline.serverAddress,
    offline: true,
    generate: (request) => {
      calls.push(request);
      return offline.generate(request);
    },
  };
  return { calls, model };
}
