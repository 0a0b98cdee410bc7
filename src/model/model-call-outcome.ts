import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ServiceMetrics } from '../telemetry/metrics.js';
import { errorType } from '../telemetry/spans.js';
import type { ModelResult } from './answer-model.js';
import type { CallCost, PriceCatalog } from './price-catalog.js';

/** A finished model call (every attempt included), as the model-call paths see it. */
export interface ModelCallOutcome {
  /** The model the final attempt asked for (the fallback model when it was used). */
  requestModel: string;
  durationSeconds: number;
  /** The managed prompt's version, when the call used one (the cost counter's pivot). */
  promptVersion?: number;
  /** Present on success. */
  result?: ModelResult;
  /** Present on failure (after retries). */
  error?: unknown;
}

/**
 * Turns a finished model call into its cost (span keys, book ch 11 / Langfuse
 * `cost_details`) and its metrics (duration, tokens, spend). Every model-call
 * path — `openai.*.create` and the streaming one — calls
 * `recordModelCallOutcome` once, on success and on failure.
 */
export class ModelCallRecorder {
  /** Models already reported as missing from the catalog (logged once each). */
  private readonly unpriced = new Set<string>();

  constructor(
    private readonly deps: {
      metrics: ServiceMetrics;
      /** Without a catalog nothing is priced (and nothing is logged). */
      prices?: PriceCatalog;
      logger: Logger;
    },
  ) {}

  recordModelCallOutcome(span: Span, outcome: ModelCallOutcome): CallCost | undefined {
    const { metrics } = this.deps;
    const usage = outcome.result?.usage;
    if (outcome.result === undefined) {
      metrics.recordModelCall({
        requestModel: outcome.requestModel,
        durationSeconds: outcome.durationSeconds,
        errorType: errorType(outcome.error),
      });
      return undefined;
    }
    metrics.recordModelCall({ requestModel: outcome.requestModel, durationSeconds: outcome.durationSeconds, usage });
    if (!usage) return undefined;

    const cost = this.price(outcome.requestModel, outcome.result.responseModel, usage);
    if (!cost) return undefined;
    span.setAttributes({
      'app.cost.amount': cost.total,
      'app.cost.currency': cost.currency,
      'app.cost.catalog_version': cost.catalogVersion,
      // Langfuse takes a JSON string; a provided cost replaces its own model-price inference.
      'langfuse.observation.cost_details': JSON.stringify({ input: cost.input, output: cost.output, total: cost.total }),
    });
    metrics.recordLlmCost(cost.total, outcome.requestModel, outcome.promptVersion);
    return cost;
  }

  private price(requestModel: string, responseModel: string, usage: NonNullable<ModelResult['usage']>): CallCost | undefined {
    const { prices, logger } = this.deps;
    if (!prices) return undefined;
    const cost = prices.price([requestModel, responseModel], usage);
    if (!cost && !this.unpriced.has(requestModel)) {
      this.unpriced.add(requestModel);
      logger.warn(
        { model: requestModel, responseModel, catalogVersion: prices.version },
        'model has no price in the model price catalog (MODEL_PRICES_FILE): its calls record no cost',
      );
    }
    return cost;
  }
}
