import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './error-handler.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer API keys compared in constant time (digests have equal length, so
 * neither the key nor its length leaks through timing).
 */
export function bearerAuth(apiKeys: readonly string[]) {
  const expected = apiKeys.map(digest);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const presented = digest(match?.[1] ?? '');
    let ok = false;
    for (const key of expected) ok = timingSafeEqual(presented, key) || ok;
    if (!match || !ok) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(errorBody('unauthorized', match ? 'invalid API key' : 'missing bearer API key'));
    }
  };
}

/**
 * Rate-limit bucket: the end user (the validated body's `user_id`), never the API key, so one
 * integration serving all its customers through one key is not capped below capacity
 * (MAX_CONCURRENT_REQUESTS guards that). Runs after validation, so `user_id` is well-formed.
 */
export function rateLimitKey(request: FastifyRequest): string {
  const userId = (request.body as { user_id?: unknown } | undefined)?.user_id;
  return typeof userId === 'string' ? `user:${userId}` : `ip:${request.ip}`;
}
