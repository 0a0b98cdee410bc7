// The stores @fastify/rate-limit ships (CommonJS, no typings of their own).
declare module '@fastify/rate-limit/store/LocalStore.js' {
  import type { RateLimitStoreBackend } from './rate-limit-store.js';
  const LocalStore: new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => RateLimitStoreBackend;
  export default LocalStore;
}
declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { Redis } from 'ioredis';
  import type { RateLimitStoreBackend } from './rate-limit-store.js';
  const RedisStore: new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => RateLimitStoreBackend;
  export default RedisStore;
}
