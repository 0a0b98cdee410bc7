import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../config/settings.js';

/** USD per million tokens (book ch 11: prices are data, versioned, not constants in code). */
const modelPrice = z
  .object({
    input: z.number().nonnegative(),
    cached_input: z.number().nonnegative().optional(),
    output: z.number().nonnegative(),
  })
  .strict();

const catalogSchema = z.object({
  catalog_version: z.string().trim().min(1),
  currency: z.literal('USD'),
  unit: z.literal('USD per 1M tokens'),
  source: z.string().optional(),
  notes: z.array(z.string()).optional(),
  models: z.record(z.string().min(1), modelPrice).refine((models) => Object.keys(models).length > 0, 'at least one model'),
});

export type ModelPrice = z.infer<typeof modelPrice>;
export type PriceCatalogFile = z.infer<typeof catalogSchema>;

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Part of `inputTokens` served from the provider's prompt cache. */
  cachedInputTokens?: number;
}

/** One priced model call, in USD. Also the shape of Langfuse's `cost_details`. */
export interface CallCost {
  input: number;
  output: number;
  total: number;
  currency: 'USD';
  catalogVersion: string;
  /** The catalog entry that priced it. */
  pricedAs: string;
}

const PER_TOKEN = 1 / 1_000_000;
/** `gpt-4o-mini-2024-07-18` → `gpt-4o-mini` (OpenAI's dated snapshot names). */
const SNAPSHOT_SUFFIX = /-\d{4}-\d{2}-\d{2}$/;
/** Float noise off (0.1 + 0.2): a tenth of a nano-dollar is far below any bill. */
const round = (usd: number) => Math.round(usd * 1e10) / 1e10;

/**
 * The model price catalog (`config/model-prices.json`, owned by the operator),
 * loaded and validated once at start-up. Prices one call from the usage the
 * provider reported; a model it does not list has no price (undefined).
 */
export class PriceCatalog {
  readonly version: string;
  private readonly models: ReadonlyMap<string, ModelPrice>;

  constructor(file: PriceCatalogFile) {
    this.version = file.catalog_version;
    this.models = new Map(Object.entries(file.models));
  }

  /** Reads and validates the catalog; a bad file stops start-up naming the variable and the problem. */
  static load(path: string): PriceCatalog {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new ConfigError(`Invalid configuration: MODEL_PRICES_FILE: cannot read ${path}: ${(error as Error).message}`);
    }
    const parsed = catalogSchema.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
      throw new ConfigError(`Invalid configuration: MODEL_PRICES_FILE: ${path}: ${problems.join('; ')}`);
    }
    return new PriceCatalog(parsed.data);
  }

  /** The entry for `model`, or for its undated name when `model` is a dated snapshot. */
  lookup(model: string): [name: string, price: ModelPrice] | undefined {
    const exact = this.models.get(model);
    if (exact) return [model, exact];
    const undated = model.replace(SNAPSHOT_SUFFIX, '');
    const base = undated === model ? undefined : this.models.get(undated);
    return base ? [undated, base] : undefined;
  }

  /** Cost of one call: uncached input, cached input and output tokens at the catalog's prices. */
  price(models: readonly string[], usage: TokenUsage): CallCost | undefined {
    let found: [string, ModelPrice] | undefined;
    for (const model of models) {
      found = this.lookup(model);
      if (found) break;
    }
    if (!found) return undefined;
    const [pricedAs, price] = found;
    const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
    const input = round(((usage.inputTokens - cached) * price.input + cached * (price.cached_input ?? price.input)) * PER_TOKEN);
    const output = round(usage.outputTokens * price.output * PER_TOKEN);
    return { input, output, total: round(input + output), currency: 'USD', catalogVersion: this.version, pricedAs };
  }
}
