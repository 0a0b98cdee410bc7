import type { FastifyError, FastifyInstance } from 'fastify';
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
    if (error instanceof ServiceError) {
      if (error.httpStatus >= 500) request.log.warn({ code: error.code, errorType: error.errorType }, error.message);
      if (error.httpStatus === 503) reply.header('retry-after', '5');
      return reply.code(error.httpStatus).send(errorBody(error.code, error.message, error.details()));
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      const code = FASTIFY_CLIENT_CODES[error.code] ?? (status === 429 ? 'rate_limited' : 'invalid_request');
      return reply.code(status).send(errorBody(code, error.message));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error', 'internal error'));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}
