/**
 * Langfuse's prompt webhook as its worker sends it (worker/src/queues/webhooks.ts): the
 * `prompt-version` payload, key order `id, timestamp, type, apiVersion, action, prompt`, signed
 * with `x-langfuse-signature: t=<unix>,v1=<hex>` over the exact bytes.
 */
import { randomUUID } from 'node:crypto';
import { signLangfuseWebhook } from '../../src/http/webhook-signature.js';

export interface PromptEventFields {
  id?: string;
  version: number;
  labels: string[];
  name?: string;
  action?: string;
  type?: string;
  /** Epoch ms for `timestamp` and the prompt's dates. Default: now. */
  at?: number;
}

export function promptVersionEvent(fields: PromptEventFields): string {
  const at = new Date(fields.at ?? Date.now()).toISOString();
  return JSON.stringify({
    id: fields.id ?? randomUUID(),
    timestamp: at,
    type: fields.type ?? 'prompt-version',
    apiVersion: 'v1',
    action: fields.action ?? 'updated',
    prompt: {
      id: `prompt-${fields.version}`,
      name: fields.name ?? 'order-status-answer',
      version: fields.version,
      projectId: 'order-status-agent',
      createdBy: 'API',
      labels: fields.labels,
      prompt: [{ role: 'system', content: 'You are a support assistant.' }],
      type: 'chat',
      config: {},
      commitMessage: null,
      tags: [],
      createdAt: at,
      updatedAt: at,
    },
  });
}

/** POSTs a signed delivery to a running service, as Langfuse's worker does. */
export function postSignedWebhook(baseUrl: string, secret: string, body: string): Promise<Response> {
  return fetch(`${baseUrl}/webhooks/langfuse`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-langfuse-signature': signLangfuseWebhook(secret, body, Date.now() / 1000) },
    body,
  });
}
