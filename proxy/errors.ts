// The proxy's own errors. Everything the API answers passes through untouched; these are what the edge
// itself refuses, each with a stable problem type.
import createError from '@fastify/error'

export const EdgeErrors = {
  Unauthorized: createError<[string]>('GH_EDGE_UNAUTHORIZED', '%s', 401),
  TooManyLoginFailures: createError('GH_EDGE_LOGIN_THROTTLED', 'Too many failed logins; wait and try again', 429),
  RateLimited: createError<[string]>('GH_RATE_LIMITED', '%s', 429),
  UpstreamUnavailable: createError('GH_UPSTREAM_UNAVAILABLE', 'The API is unavailable; retry shortly', 502),
  UpstreamTimeout: createError('GH_UPSTREAM_TIMEOUT', 'The API did not answer in time', 504),
  RateLimitStoreDown: createError('GH_RATE_LIMIT_UNAVAILABLE', 'Rate limiting is unavailable; retry shortly', 503),
  UpstreamStarting: createError('GH_UPSTREAM_STARTING', 'The API is starting; retry shortly', 503),
  BodyTooLarge: createError<[number]>('FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is larger than %s bytes', 413),
  BodyLengthMismatch: createError('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'Request body size did not match Content-Length', 400),
  BodyBufferFull: createError('GH_EDGE_BUSY', 'The edge is holding as many request bodies as it may; retry shortly', 503),
  ClientAborted: createError('GH_CLIENT_ABORTED', 'The client closed the request before its body was complete', 400),
  UserConcurrency: createError<[number]>('GH_TOO_MANY_IN_FLIGHT', 'You have %s requests in progress at the API, as many as one user may; retry when one is answered', 429),
  WrongTenantDomain: createError<[string]>('GH_EDGE_WRONG_TENANT_DOMAIN', '%s', 403),
  TenantFactsUnavailable: createError('GH_EDGE_TENANT_FACTS_UNAVAILABLE', 'The edge cannot yet tell whose domain this is; retry shortly', 503),
} as const

export const EDGE_PROBLEMS: Record<string, { slug: string, title: string }> = {
  GH_EDGE_UNAUTHORIZED: { slug: 'unauthenticated', title: 'Authentication required' },
  FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER: { slug: 'unauthenticated', title: 'Authentication required' },
  GH_EDGE_LOGIN_THROTTLED: { slug: 'login-throttled', title: 'Too many failed logins' },
  GH_RATE_LIMITED: { slug: 'rate-limited', title: 'Too many requests' },
  GH_UPSTREAM_UNAVAILABLE: { slug: 'upstream-unavailable', title: 'Bad gateway' },
  GH_UPSTREAM_TIMEOUT: { slug: 'upstream-timeout', title: 'Gateway timeout' },
  GH_RATE_LIMIT_UNAVAILABLE: { slug: 'rate-limit-unavailable', title: 'Service unavailable' },
  GH_ROUTE_NOT_FOUND: { slug: 'route-not-found', title: 'No such route' },
  FST_ERR_CTP_BODY_TOO_LARGE: { slug: 'payload-too-large', title: 'Payload too large' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { slug: 'invalid-content-length', title: 'Invalid Content-Length' },
  GH_UPSTREAM_STARTING: { slug: 'upstream-starting', title: 'Service starting' },
  GH_EDGE_BUSY: { slug: 'edge-busy', title: 'Service busy' },
  GH_CLIENT_ABORTED: { slug: 'client-aborted', title: 'Request incomplete' },
  GH_TOO_MANY_IN_FLIGHT: { slug: 'too-many-in-flight', title: 'Too many requests in progress' },
  GH_EDGE_WRONG_TENANT_DOMAIN: { slug: 'wrong-tenant-domain', title: "Another tenant's domain" },
  GH_EDGE_TENANT_FACTS_UNAVAILABLE: { slug: 'tenant-facts-unavailable', title: 'Service unavailable' },
  FST_ERR_BAD_URL: { slug: 'bad-url', title: 'Malformed URL' },
  GH_INTERNAL: { slug: 'internal', title: 'Internal server error' },
}
