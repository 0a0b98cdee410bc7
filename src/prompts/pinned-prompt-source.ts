import type { PromptTemplate } from './prompt-template.js';
import type { PromptSource } from './prompt-source.js';

/**
 * Serves one prompt version, read once, whatever label a run asks for: the release gate
 * evaluates exactly the version it names even if a label moves meanwhile, while each run still
 * goes through the service's own PromptResolver and compose_answer step.
 */
export class PinnedPromptSource implements PromptSource {
  constructor(
    readonly kind: PromptSource['kind'],
    readonly template: PromptTemplate,
  ) {}

  fetch(_name: string, label: string): Promise<PromptTemplate> {
    return Promise.resolve(label === this.template.label ? this.template : { ...this.template, label });
  }
}
