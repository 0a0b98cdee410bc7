import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { Logger } from 'pino';
import type { RedisLink } from './redis-link.js';

type Result = { current: number; ttl: number };
type Callback = (error: Error | null, result?: Result) => void;

/** The store contract @fastify/rate-limit calls (its LocalStore and RedisStore implement it). */
export interface RateLimitStoreBackend {
  incr(key: string, callback: Callback, timeWindow: number, max: number): void;
  read?(key: string, callback: Callback, timeWindow: number, max: number): void;
}

interface StoreParams {
  continueExceeding?: boolean;
  exponentialBackoff?: boolean;
}

export interface SharedRateLimitStoreOptions {
  link: RedisLink;
  /** Key prefix in Redis. */
  nameSpace: string;
  /** Buckets kept by the per-process fallback. */
  localCacheSize: number;
  logger: Logger;
}

/**
 * Counters in Redis (the library's own RedisStore: one Lua INCR+PEXPIRE per request), so N
 * replicas allow the limit once, not N times. While Redis is down or slow (a command timeout)
 * the library's LocalStore counts in this process instead: limits hold per replica and no
 * request fails or waits on Redis.
 */
export function sharedRateLimitStore(options: SharedRateLimitStoreOptions): FastifyRateLimitStoreCtor {
  const { link, logger } = options;
  let falling = false;
  const fellBack = (error: Error) => {
    if (!falling) logger.warn({ err: error }, 'rate-limit counters fell back to this process (Redis command failed)');
    falling = true;
  };

  class SharedRateLimitStore implements RateLimitStoreBackend {
    private readonly local: RateLimitStoreBackend;
    private readonly shared: RateLimitStoreBackend;

    constructor(params: StoreParams, nameSpace = options.nameSpace) {
      const continueExceeding = params.continueExceeding ?? false;
      const exponentialBackoff = params.exponentialBackoff ?? false;
      this.local = new LocalStore(continueExceeding, exponentialBackoff, options.localCacheSize);
      this.shared = new RedisStore(continueExceeding, exponentialBackoff, link.commands, nameSpace);
    }

    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      this.call('incr', key, callback, timeWindow, max);
    }

    read(key: string, callback: Callback, timeWindow: number, max: number): void {
      this.call('read', key, callback, timeWindow, max);
    }

    child(routeOptions: StoreParams & { routeInfo: { method: string; url: string } }): SharedRateLimitStore {
      return new SharedRateLimitStore(routeOptions, `${options.nameSpace}${routeOptions.routeInfo.method}${routeOptions.routeInfo.url}-`);
    }

    private call(method: 'incr' | 'read', key: string, callback: Callback, timeWindow: number, max: number): void {
      const local = () => this.local[method]?.(key, callback, timeWindow, max);
      if (!link.isUp()) return local();
      this.shared[method]?.(
        key,
        (error, result) => {
          if (error) {
            fellBack(error);
            return local();
          }
          falling = false;
          callback(null, result);
        },
        timeWindow,
        max,
      );
    }
  }
  return SharedRateLimitStore as unknown as FastifyRateLimitStoreCtor;
}
