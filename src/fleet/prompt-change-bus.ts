import type { Logger } from 'pino';
import { z } from 'zod';
import type { PromptChange } from '../prompts/prompt-change.js';
import type { RedisLink } from './redis-link.js';

/** Tells the other replicas about a prompt change this one accepted. */
export interface PromptChangeBus {
  /** false when the message could not be sent (Redis down): the others catch up by TTL refresh. */
  publish(change: PromptChange): Promise<boolean>;
  /** Changes announced by the other replicas (never this one's own). */
  subscribe(handler: (change: PromptChange) => void): Promise<void>;
}

/** The message names what changed, never prompt content: a receiver only ever refetches from Langfuse. */
const messageSchema = z.object({
  origin: z.string().max(64),
  eventId: z.string().min(1).max(200),
  promptName: z.string().min(1).max(200),
  version: z.number().int().positive(),
  labels: z.array(z.string().max(64)).max(100),
  action: z.enum(['created', 'updated', 'deleted']),
});

/** Redis pub/sub on one channel per deployment environment. */
export class RedisPromptChangeBus implements PromptChangeBus {
  private failing = false;

  constructor(
    private readonly link: RedisLink,
    private readonly channel: string,
    /** This process: its own messages come back through the subscription and are skipped. */
    private readonly origin: string,
    private readonly logger: Logger,
  ) {}

  async publish(change: PromptChange): Promise<boolean> {
    const message = JSON.stringify({ origin: this.origin, ...change, labels: [...change.labels] });
    try {
      await this.link.commands.publish(this.channel, message);
      this.failing = false;
      return true;
    } catch (error) {
      if (!this.failing) this.logger.warn({ err: error, eventId: change.eventId }, 'prompt change not fanned out (Redis); other replicas catch up by TTL refresh');
      this.failing = true;
      return false;
    }
  }

  async subscribe(handler: (change: PromptChange) => void): Promise<void> {
    const { subscriber } = this.link;
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = messageSchema.safeParse(json);
      if (!parsed.success) {
        this.logger.warn({ channel }, 'malformed prompt-change message ignored');
        return;
      }
      const { origin, ...change } = parsed.data;
      if (origin !== this.origin) handler(change);
    });
    // Queued until the connection is up; ioredis renews it after every reconnect.
    await subscriber.subscribe(this.channel);
  }
}
