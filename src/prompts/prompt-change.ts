import type { Logger } from 'pino';
import type { PromptResolver } from './prompt-resolver.js';

/** A version of the managed prompt changed in Langfuse (a `prompt-version` webhook, or its fan-out from another replica). */
export interface PromptChange {
  /** The webhook delivery id (Langfuse reuses it on retries). */
  eventId: string;
  promptName: string;
  version: number;
  /** The labels the version holds after the change. */
  labels: readonly string[];
  action: 'created' | 'updated' | 'deleted';
}

/**
 * Labels a change concerns here: those it names that this process serves, plus those this
 * process serves from that version (a label moved off it: Langfuse's event for the losing
 * version no longer lists it). Labels nobody here asks for (`latest`, other teams' labels)
 * are not fetched.
 */
export function labelsAffectedBy(resolver: PromptResolver, change: PromptChange): string[] {
  const served = new Set(resolver.servedLabels());
  return [...new Set([...change.labels.filter((label) => served.has(label)), ...resolver.labelsServingVersion(change.version)])].sort();
}

/** Refetches the affected labels now (single flight per label). Never throws. */
export async function applyPromptChange(resolver: PromptResolver, change: PromptChange, logger: Logger, origin: 'webhook' | 'fleet'): Promise<void> {
  const labels = labelsAffectedBy(resolver, change);
  if (labels.length === 0) {
    logger.debug({ eventId: change.eventId, version: change.version, origin }, 'prompt change concerns no label served here');
    return;
  }
  logger.info({ eventId: change.eventId, action: change.action, version: change.version, labels, origin }, 'prompt changed in Langfuse: refetching');
  await resolver.refresh(labels);
}
