import { randomUUID } from 'node:crypto';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Settings } from '../config/settings.js';
import { applyPromptChange, type PromptChange } from '../prompts/prompt-change.js';
import type { PromptResolver } from '../prompts/prompt-resolver.js';
import { RedisPromptChangeBus, type PromptChangeBus } from './prompt-change-bus.js';
import { sharedRateLimitStore } from './rate-limit-store.js';
import { connectRedis, redactRedisUrl, type RedisLink } from './redis-link.js';
import { LocalWebhookDeliveries, SharedWebhookDeliveries, type WebhookDeliveries } from './webhook-deliveries.js';

/**
 * What keeps replicas in step (SPEC §11). Without REDIS_URL everything is per process: the
 * webhook refreshes only the replica it reached, limits count per replica.
 */
export interface Fleet {
  /** A verified prompt change: this replica refetches now and tells the others. Returns at once, never throws. */
  promptChanged(change: PromptChange): void;
  /** Webhook de-duplication (one hour), shared through Redis when configured. */
  readonly deliveries: WebhookDeliveries;
  /** @fastify/rate-limit store; undefined: the plugin's in-memory store. */
  readonly rateLimitStore: FastifyRateLimitStoreCtor | undefined;
  /** `off` without REDIS_URL. */
  redisState(): 'off' | 'up' | 'down';
  close(): Promise<void>;
}

export interface FleetOptions {
  settings: Settings;
  prompts: PromptResolver;
  logger: Logger;
  clock: Clock;
  /** Buckets the per-process rate-limit store keeps. */
  rateLimitCacheSize?: number;
}

/** Keys and channel per deployment environment: staging and production may share one Redis. */
export function redisNamespace(settings: Settings): string {
  return `order-status-agent:${settings.service.environment}:`;
}

const refetcher = (prompts: PromptResolver, logger: Logger) => (change: PromptChange, origin: 'webhook' | 'fleet') =>
  applyPromptChange(prompts, change, logger, origin).catch((error: unknown) => logger.error({ err: error }, 'prompt refresh after a change failed'));

/** This process only: the webhook refreshes the replica it reached; ids are remembered here. */
export function createLocalFleet(prompts: PromptResolver, logger: Logger, clock: Clock): Fleet {
  const apply = refetcher(prompts, logger.child({ component: 'fleet' }));
  return {
    promptChanged: (change) => void apply(change, 'webhook'),
    deliveries: new LocalWebhookDeliveries(clock),
    rateLimitStore: undefined,
    redisState: () => 'off',
    close: async () => undefined,
  };
}

export function createFleet(options: FleetOptions): Fleet {
  const { settings, prompts, clock } = options;
  const url = settings.fleet.redisUrl;
  if (!url) return createLocalFleet(prompts, options.logger, clock);
  const logger = options.logger.child({ component: 'fleet' });
  const local = new LocalWebhookDeliveries(clock);
  const apply = refetcher(prompts, logger);

  const namespace = redisNamespace(settings);
  const instance = randomUUID();
  const link: RedisLink = connectRedis({ url, commandTimeoutMs: settings.fleet.redisCommandTimeoutMs, logger, clientName: `order-status-agent-${instance.slice(0, 8)}` });
  const bus: PromptChangeBus = new RedisPromptChangeBus(link, `${namespace}prompt-changes`, instance, logger);
  void bus.subscribe((change) => void apply(change, 'fleet')).catch((error: unknown) => logger.error({ err: error }, 'prompt-change subscription failed'));
  // Changes published while this replica was cut off were missed: refetch everything served once.
  link.onRecovered(() => {
    logger.info('reconciling prompt labels after the Redis outage');
    void prompts.refresh(prompts.servedLabels());
  });
  logger.info({ redis: redactRedisUrl(url) }, 'fleet: rate limits and webhook de-duplication shared through Redis; prompt changes fanned out');

  return {
    promptChanged(change) {
      void apply(change, 'webhook');
      void bus.publish(change);
    },
    deliveries: new SharedWebhookDeliveries(local, link, `${namespace}webhook-delivery:`, logger),
    rateLimitStore: sharedRateLimitStore({ link, nameSpace: `${namespace}rate-limit:`, localCacheSize: options.rateLimitCacheSize ?? 100_000, logger }),
    redisState: () => (link.isUp() ? 'up' : 'down'),
    close: () => link.close(),
  };
}

/** Start-up announcement of what a prompt change reaches and how limits count. */
export function announceFleet(settings: Settings, logger: Logger): void {
  if (settings.fleet.webhookSecret) {
    logger.info('POST /webhooks/langfuse accepts signed Langfuse prompt events (LANGFUSE_WEBHOOK_SECRET)');
  } else if (settings.prompts.source === 'langfuse') {
    logger.info({ ttlSeconds: settings.prompts.cacheTtlSeconds }, 'LANGFUSE_WEBHOOK_SECRET is not set: a label moved in Langfuse is served within PROMPT_CACHE_TTL_SECONDS');
  }
  if (!settings.fleet.redisUrl && settings.service.rateLimitPerUserPerMinute > 0) {
    logger.info('REDIS_URL is not set: rate limits count per process (each replica allows the full limit)');
  }
}
