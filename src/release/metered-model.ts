import { AsyncLocalStorage } from 'node:async_hooks';
import type { AnswerModel, ModelRequest, ModelResult } from '../model/answer-model.js';

/** One successful model call made while running a dataset item. */
export interface MeteredCall {
  requestModel: string;
  responseModel: string;
  usage: ModelResult['usage'];
}

const currentItem = new AsyncLocalStorage<MeteredCall[]>();

/**
 * Wraps the model seam so each dataset item's calls (retries and fallbacks included) are
 * collected for that item alone, even with items running concurrently; the model, the call
 * path and its spans stay the service's own.
 */
export function meteredModel(model: AnswerModel): AnswerModel {
  // Everything else (api, offline, any other call path) is the wrapped model's own.
  const metered = Object.create(model) as AnswerModel;
  metered.generate = async (request: ModelRequest): Promise<ModelResult> => {
    const result = await model.generate(request);
    currentItem.getStore()?.push({ requestModel: request.model, responseModel: result.responseModel, usage: result.usage });
    return result;
  };
  return metered;
}

/** Runs `fn`, collecting the model calls made inside it into `calls` (also those made before a timeout). */
export function meterCalls<T>(calls: MeteredCall[], fn: () => Promise<T>): Promise<T> {
  return currentItem.run(calls, fn);
}
