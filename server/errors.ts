// The catalogue of errors the API answers with. Each code maps to a stable problem type URI
// (RFC 9457 `type`) that clients may switch on; titles are fixed per type, details vary per occurrence.
import createError from '@fastify/error'

export const PROBLEM_TYPE_BASE = 'urn:gatehouse:problem:'

/** Retry-After on every 503, REST or GraphQL: long enough for a restarted database or a failover. */
export const RETRY_AFTER_SECONDS = '5'

export const Errors = {
  NotFound: createError<[string]>('GH_NOT_FOUND', '%s not found', 404),
  Unauthenticated: createError<[string]>('GH_UNAUTHENTICATED', '%s', 401),
  UnknownTenant: createError<[string]>('GH_UNKNOWN_TENANT', 'Tenant "%s" does not exist', 403),
  InvalidCursor: createError('GH_INVALID_CURSOR', 'The pagination cursor is not valid for this list', 400),
  InvalidInput: createError<[string]>('GH_INVALID_INPUT', '%s', 400),
  MalformedBody: createError<[string]>('GH_MALFORMED_BODY', '%s', 400),
  BodyDigestMismatch: createError('GH_BODY_DIGEST_MISMATCH', 'The body is not the one the identity signature covers', 400),
  Conflict: createError<[string]>('GH_CONFLICT', '%s', 409),
  DatabaseUnavailable: createError('GH_DATABASE_UNAVAILABLE', 'The database is unavailable; retry shortly', 503),
  QueryTooComplex: createError<[string]>('GH_QUERY_TOO_COMPLEX', '%s', 400),
  QueryTooDeep: createError<[string]>('GH_QUERY_TOO_DEEP', '%s', 400),
} as const

/** Problem `type` slug and `title` for every code the API may answer with, including Fastify's own. */
export const PROBLEM_TYPES: Record<string, { slug: string, title: string }> = {
  GH_NOT_FOUND: { slug: 'not-found', title: 'Not found' },
  GH_UNAUTHENTICATED: { slug: 'unauthenticated', title: 'Missing or invalid identity' },
  GH_UNKNOWN_TENANT: { slug: 'unknown-tenant', title: 'Unknown tenant' },
  GH_INVALID_CURSOR: { slug: 'invalid-cursor', title: 'Invalid cursor' },
  GH_INVALID_INPUT: { slug: 'invalid-input', title: 'Invalid input' },
  GH_MALFORMED_BODY: { slug: 'malformed-body', title: 'Malformed request body' },
  GH_BODY_DIGEST_MISMATCH: { slug: 'body-digest-mismatch', title: 'Body does not match its signed digest' },
  GH_CONFLICT: { slug: 'conflict', title: 'Conflict' },
  GH_DATABASE_UNAVAILABLE: { slug: 'database-unavailable', title: 'Database unavailable' },
  GH_SHUTTING_DOWN: { slug: 'shutting-down', title: 'Shutting down' },
  GH_QUERY_TOO_COMPLEX: { slug: 'query-too-complex', title: 'Query too complex' },
  GH_QUERY_TOO_DEEP: { slug: 'query-too-deep', title: 'Query too deep' },
  GH_ROUTE_NOT_FOUND: { slug: 'route-not-found', title: 'No such route' },
  FST_ERR_VALIDATION: { slug: 'validation', title: 'Request validation failed' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { slug: 'unsupported-media-type', title: 'Unsupported media type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { slug: 'invalid-content-length', title: 'Invalid Content-Length' },
  FST_ERR_CTP_BODY_TOO_LARGE: { slug: 'payload-too-large', title: 'Payload too large' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { slug: 'malformed-body', title: 'Malformed request body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { slug: 'malformed-body', title: 'Malformed request body' },
  FST_ERR_BAD_URL: { slug: 'bad-url', title: 'Malformed URL' },
  FST_ERR_ASYNC_CONSTRAINT: { slug: 'bad-request', title: 'Bad request' },
  GH_RATE_LIMITED: { slug: 'rate-limited', title: 'Too many requests' },
  GH_INTERNAL: { slug: 'internal', title: 'Internal server error' },
}

export function problemType (code: string): { type: string, title: string } {
  const known = PROBLEM_TYPES[code]
  if (known !== undefined) return { type: PROBLEM_TYPE_BASE + known.slug, title: known.title }
  return { type: PROBLEM_TYPE_BASE + 'bad-request', title: 'Bad request' }
}
