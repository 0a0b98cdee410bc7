import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ServiceError } from '../errors.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string; [extra: string]: unknown };
}

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, ...extra } };
}

/** Fastify's own client errors (bad JSON, wrong content type, body too large…) keep their 4xx. */
const FASTIFY_CLIENT_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
};

/**
 * How a failure raised while serving a request is answered: status, body, and whether it is
 * worth a log line. Shared by the error handler and the SSE route (its `error` event).
 */
export function describeFailure(error: unknown): { status: number; body: ErrorBody; level?: 'warn' | 'error' } {
  if (error instanceof ServiceError) {
    return { status: error.httpStatus, body: errorBody(error.code, error.message, error.details()), ...(error.httpStatus >= 500 ? { level: 'warn' as const } : {}) };
  }
  return { status: 500, body: errorBody('internal_error', 'internal error'), level: 'error' };
}

/** One error shape for every failure: `{error: {code, message, ...}}`. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const path = first?.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const unknownKey = first?.keyword === 'unrecognized_keys' ? (first.params as { keys?: string[] }).keys?.[0] : undefined;
      const name = unknownKey ?? (path || undefined);
      const message = name ? `${name}: ${first?.message ?? 'invalid'}` : (first?.message ?? 'invalid request');
      return reply.code(400).send(errorBody('invalid_request', message, name ? { field: name } : {}));
    }
    const status = error.statusCode ?? 500;
    if (!(error instanceof ServiceError) && status < 500) {
      const code = FASTIFY_CLIENT_CODES[error.code] ?? (status === 429 ? 'rate_limited' : 'invalid_request');
      return reply.code(status).send(errorBody(code, error.message));
    }
    const failure = describeFailure(error);
    logFailure(request.log, error, failure.level);
    if (failure.status === 503) reply.header('retry-after', '5');
    return reply.code(failure.status).send(failure.body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/** Service errors at warn (the caller got a meaningful answer), anything unexpected at error. */
export function logFailure(log: FastifyBaseLogger, error: unknown, level: 'warn' | 'error' | undefined): void {
  if (level === 'warn' && error instanceof ServiceError) log.warn({ code: error.code, errorType: error.errorType }, error.message);
  else if (level === 'error') log.error({ err: error }, 'unhandled error');
}
