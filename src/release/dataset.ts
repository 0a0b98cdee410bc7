import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { orderStatusRequest } from '../http/schemas.js';

/** The Langfuse dataset the release gate runs (SPEC §10). */
export const DATASET_NAME = 'order-status-regression';
/** Evaluator rubric and gate name: bump it when the evaluators or the pass rule change. */
export const RUBRIC = 'order-status-regression-v1';

const term = z.string().trim().min(1, 'terms must not be empty').max(200);

/**
 * One regression case. The input is exactly what `POST /order-status` accepts (same schema), so
 * every case is a request the service could receive; metadata says why the case exists.
 */
export const datasetItemSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,127}$/, 'id must be lowercase letters, digits and -, at most 128 characters'),
    input: orderStatusRequest.pick({ query: true, region: true, order_reference: true, user_id: true }).strict(),
    expected_output: z
      .object({
        outcome: z.enum(['answer', 'escalated']),
        must_mention: z.array(term),
        must_not_mention: z.array(term),
      })
      .strict(),
    metadata: z
      .object({
        source: z.string().trim().min(1, 'source must say where the case comes from'),
        rubric: z.literal(RUBRIC),
        risk: z.enum(['low', 'medium', 'high']),
      })
      .loose(),
  })
  .strict()
  .refine((item) => item.expected_output.outcome === 'escalated' || item.expected_output.must_mention.length > 0, {
    message: 'an answer case must name at least one required term, so that a useless answer fails',
    path: ['expected_output', 'must_mention'],
  });

export type DatasetItem = z.infer<typeof datasetItemSchema>;

/** A dataset file that cannot be used; the message names the line and the field. */
export class DatasetFileError extends Error {
  override name = 'DatasetFileError';
}

/** Parses JSON lines (blank lines allowed); every problem is reported, each with its line number and field. */
export function parseDataset(text: string, file = 'dataset'): DatasetItem[] {
  const items: DatasetItem[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (error) {
      problems.push(`${file}:${line}: not valid JSON (${(error as Error).message})`);
      return;
    }
    const parsed = datasetItemSchema.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push(`${file}:${line}: ${issue.path.join('.') || '(item)'}: ${issue.message}`);
      }
      return;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) {
      problems.push(`${file}:${line}: id: '${parsed.data.id}' is already used on line ${first}`);
      return;
    }
    seen.set(parsed.data.id, line);
    items.push(parsed.data);
  });
  if (problems.length === 0 && items.length === 0) problems.push(`${file}: no items`);
  if (problems.length > 0) throw new DatasetFileError(`cannot use the dataset: ${problems.join('; ')}`);
  return items;
}

export function loadDataset(path: string): DatasetItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DatasetFileError(`cannot read the dataset ${path}: ${(error as Error).message}`);
  }
  return parseDataset(text, path);
}
