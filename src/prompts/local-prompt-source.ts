import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PromptNotFoundError, type VersionedPromptSource } from './prompt-source.js';
import { toPromptTemplate, type PromptTemplate, type PromptVersionData } from './prompt-template.js';

const promptFileSchema = z.object({
  name: z.string().min(1),
  type: z.literal('chat'),
  versions: z
    .array(
      z.object({
        version: z.number().int().positive(),
        labels: z.array(z.string()),
        commitMessage: z.string().optional(),
        config: z.record(z.string(), z.unknown()).optional(),
        prompt: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })).min(1),
      }),
    )
    .min(1),
});

export type PromptFile = z.infer<typeof promptFileSchema>;

export function readPromptFile(path: string): PromptFile {
  try {
    return promptFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new Error(`PROMPT_LOCAL_FILE: cannot use ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export function promptVersions(file: PromptFile): PromptVersionData[] {
  return file.versions.map((v) => ({ name: file.name, ...v, commitMessage: v.commitMessage ?? null }));
}

/**
 * Versions and labels from a JSON file in the repo (offline/development mode).
 * Same label rules as Langfuse: the version holding the label, or not found.
 */
export class LocalPromptSource implements VersionedPromptSource {
  readonly kind = 'local';
  private readonly versions: PromptVersionData[];

  constructor(file: PromptFile) {
    this.versions = promptVersions(file);
  }

  static fromPath(path: string): LocalPromptSource {
    return new LocalPromptSource(readPromptFile(path));
  }

  fetch(name: string, label: string): Promise<PromptTemplate> {
    const version = this.versions.find((v) => v.name === name && v.labels.includes(label));
    if (!version) return Promise.reject(new PromptNotFoundError(`Prompt not found: '${name}' with label '${label}'`));
    return Promise.resolve(toPromptTemplate(version, label));
  }

  fetchVersion(name: string, version: number, label: string): Promise<PromptTemplate> {
    const found = this.versions.find((v) => v.name === name && v.version === version);
    if (!found) return Promise.reject(new PromptNotFoundError(`Prompt not found: '${name}' with version ${version}`));
    return Promise.resolve(toPromptTemplate(found, label));
  }
}
