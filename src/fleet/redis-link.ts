import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The two Redis connections a replica keeps (commands; pub/sub subscription), with one
 * health state for both: an outage is logged once when it starts and once when it ends.
 */
export interface RedisLink {
  /** Commands fail at once while disconnected (no offline queue) and after the command timeout. */
  readonly commands: Redis;
  readonly subscriber: Redis;
  /** Both connections ready. */
  isUp(): boolean;
  /** Runs whenever both connections are ready again after an outage. */
  onRecovered(listener: () => void): void;
  close(): Promise<void>;
}

export interface RedisLinkOptions {
  url: string;
  /** Bound on each command: the request path never waits on Redis for longer. */
  commandTimeoutMs: number;
  logger: Logger;
  /** CLIENT SETNAME prefix, so `CLIENT LIST` shows who is connected. */
  clientName: string;
}

/** Exponential back-off with jitter, 100 ms up to 2 s: reconnects quickly without hammering a restarting server. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2_000) + Math.floor(Math.random() * 100);
}

/** `redis://:secret@host:6379/0` → `redis://host:6379/0`: safe to log. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'redis://<invalid>';
  }
}

export function connectRedis(options: RedisLinkOptions): RedisLink {
  const { logger } = options;
  const common: RedisOptions = {
    connectTimeout: Math.max(1_000, options.commandTimeoutMs * 4),
    retryStrategy: reconnectDelayMs,
    // Never hold a connection back for the server's disk load: counters and pub/sub need no data.
    enableReadyCheck: false,
  };
  const commands = new Redis(options.url, {
    ...common,
    connectionName: `${options.clientName}:commands`,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
  });
  // The subscription waits for the connection (offline queue, no retry cap) and is renewed on every reconnect.
  const subscriber = new Redis(options.url, {
    ...common,
    connectionName: `${options.clientName}:subscriber`,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
  });

  let state: 'connecting' | 'up' | 'down' = 'connecting';
  let closing = false;
  let lastError: string | undefined;
  const recoveredListeners: (() => void)[] = [];
  const target = redactRedisUrl(options.url);

  const markDown = () => {
    if (closing || state === 'down') return;
    state = 'down';
    logger.warn(
      { redis: target, error: lastError },
      'Redis unreachable: rate limits count per process, prompt changes reach other replicas by TTL refresh; reconnecting',
    );
  };
  const markUpIfReady = () => {
    if (closing || commands.status !== 'ready' || subscriber.status !== 'ready' || state === 'up') return;
    const recovered = state === 'down';
    state = 'up';
    lastError = undefined;
    logger.info({ redis: target }, recovered ? 'Redis reachable again: shared rate limits and prompt fan-out restored' : 'Redis connected');
    if (recovered) for (const listener of recoveredListeners) listener();
  };
  for (const connection of [commands, subscriber]) {
    // Without an 'error' listener ioredis prints every failed reconnect attempt to the console.
    connection.on('error', (error: Error) => {
      lastError = error.message;
      markDown();
    });
    connection.on('close', () => {
      if (state === 'up') markDown();
    });
    connection.on('ready', markUpIfReady);
  }

  return {
    commands,
    subscriber,
    isUp: () => state === 'up' && commands.status === 'ready',
    onRecovered: (listener) => {
      recoveredListeners.push(listener);
    },
    async close() {
      closing = true;
      await Promise.all(
        [commands, subscriber].map(async (connection) => {
          if (connection.status === 'ready') {
            const timeout = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
            await Promise.race([connection.quit().then(() => undefined, () => undefined), timeout]);
          }
          connection.disconnect();
        }),
      );
    },
  };
}
