import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { RedisLink } from './redis-link.js';

/** Which webhook deliveries were already handled (Langfuse retries reuse the delivery id). */
export interface WebhookDeliveries {
  /** true the first time `id` is seen within the window; never throws. */
  firstSeen(id: string): Promise<boolean>;
}

/** In-process window, bounded: the oldest ids are forgotten first when it is full. */
export class LocalWebhookDeliveries implements WebhookDeliveries {
  /** id → expiry; Map iteration order is insertion order, so the front holds the oldest. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs = 3_600_000,
    private readonly maxEntries = 10_000,
  ) {}

  async firstSeen(id: string): Promise<boolean> {
    return this.firstSeenSync(id);
  }

  firstSeenSync(id: string): boolean {
    const now = this.clock.now();
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now && this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
    const expiresAt = this.seen.get(id);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.seen.delete(id); // re-inserted at the back: the front stays the oldest
    this.seen.set(id, now + this.windowMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

/**
 * Shared through Redis (`SET key NX PX window`), so a retry that lands on another replica is
 * also a duplicate; the local window answers when Redis does not.
 */
export class SharedWebhookDeliveries implements WebhookDeliveries {
  constructor(
    private readonly local: LocalWebhookDeliveries,
    private readonly link: RedisLink,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
    private readonly windowMs = 3_600_000,
  ) {}

  async firstSeen(id: string): Promise<boolean> {
    if (!this.local.firstSeenSync(id)) return false;
    if (!this.link.isUp()) return true;
    try {
      const reply = await this.link.commands.set(`${this.keyPrefix}${id}`, '1', 'PX', this.windowMs, 'NX');
      return reply === 'OK';
    } catch (error) {
      this.logger.debug({ err: error }, 'webhook de-duplication fell back to this process (Redis)');
      return true;
    }
  }
}
