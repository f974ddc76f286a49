// Every problem either process answers with, in one table (code, status, type slug, title, message), and the one
// way both render one: RFC 9457 application/problem+json. docs/problems.md documents each type.
// @see https://www.rfc-editor.org/rfc/rfc9457
import { format } from 'node:util'
import createError from '@fastify/error'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const PROBLEM_TYPE_BASE = 'urn:gatehouse:problem:'

interface ProblemDefinition {
  code: string
  status: number
  /** The slug after urn:gatehouse:problem: — stable, clients may switch on it. */
  slug: string
  /** Fixed per type (RFC 9457 §3.1.3): codes that share a slug share it. */
  title: string
  /** The detail of an occurrence raised from this process (`%s` filled in by the thrower); the title if absent. */
  message?: string
  /** Retry-After sent with it, unless the code that refused already set one. */
  retryAfterSeconds?: number
}

/**
 * The catalogue. FST_* codes are Fastify's own (and @fastify/error's statuses for them): listed so they render with
 * a type of ours; the edge raises some itself for what it refuses before the API would.
 */
export const PROBLEMS = {
  // Requests the client must change.
  BadRequest: { code: 'GH_BAD_REQUEST', status: 400, slug: 'bad-request', title: 'Bad request' },
  Validation: { code: 'FST_ERR_VALIDATION', status: 400, slug: 'validation', title: 'Request validation failed' },
  InvalidInput: { code: 'GH_INVALID_INPUT', status: 400, slug: 'invalid-input', title: 'Invalid input', message: '%s' },
  InvalidCursor: {
    code: 'GH_INVALID_CURSOR',
    status: 400,
    slug: 'invalid-cursor',
    title: 'Invalid cursor',
    message: 'The pagination cursor is not valid for this list',
  },
  MalformedBody: {
    code: 'GH_MALFORMED_BODY',
    status: 400,
    slug: 'malformed-body',
    title: 'Malformed request body',
    message: '%s',
  },
  EmptyJsonBody: {
    code: 'FST_ERR_CTP_EMPTY_JSON_BODY',
    status: 400,
    slug: 'malformed-body',
    title: 'Malformed request body',
  },
  InvalidJsonBody: {
    code: 'FST_ERR_CTP_INVALID_JSON_BODY',
    status: 400,
    slug: 'malformed-body',
    title: 'Malformed request body',
  },
  BodyDigestMismatch: {
    code: 'GH_BODY_DIGEST_MISMATCH',
    status: 400,
    slug: 'body-digest-mismatch',
    title: 'Body does not match its signed digest',
    message: 'The body is not the one the identity signature covers',
  },
  BodyLengthMismatch: {
    code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
    status: 400,
    slug: 'invalid-content-length',
    title: 'Invalid Content-Length',
    message: 'Request body size did not match Content-Length',
  },
  BadBodyEncoding: {
    code: 'GH_BAD_BODY_ENCODING',
    status: 400,
    slug: 'bad-content-encoding',
    title: 'Undecodable request body',
    message: 'The request body is not valid %s data',
  },
  BadUrl: { code: 'FST_ERR_BAD_URL', status: 400, slug: 'bad-url', title: 'Malformed URL' },
  BadPath: {
    code: 'GH_BAD_PATH',
    status: 400,
    slug: 'bad-path',
    title: 'Path not accepted',
    message: 'Dot segments, encoded slashes and backslashes are not accepted in paths',
  },
  ClientAborted: {
    code: 'GH_CLIENT_ABORTED',
    status: 400,
    slug: 'client-aborted',
    title: 'Request incomplete',
    message: 'The client closed the request before its body was complete',
  },
  HttpsRequired: {
    code: 'GH_HTTPS_REQUIRED',
    status: 400,
    slug: 'https-required',
    title: 'HTTPS required',
    message: 'Client sent an HTTP request to an HTTPS server: use https://',
  },
  MalformedRequest: {
    code: 'GH_MALFORMED_REQUEST',
    status: 400,
    slug: 'malformed-request',
    title: 'Malformed request',
    message: 'The request is not valid HTTP/1.1',
  },
  QueryTooComplex: {
    code: 'GH_QUERY_TOO_COMPLEX',
    status: 400,
    slug: 'query-too-complex',
    title: 'Query too complex',
    message: '%s',
  },
  QueryTooDeep: {
    code: 'GH_QUERY_TOO_DEEP',
    status: 400,
    slug: 'query-too-deep',
    title: 'Query too deep',
    message: '%s',
  },

  // Who is asking. Every 401 carries a Basic challenge at the edge; the API's means the edge's signature failed.
  CredentialsMissing: {
    code: 'GH_EDGE_CREDENTIALS_MISSING',
    status: 401,
    slug: 'unauthenticated',
    title: 'Authentication required',
    message: 'Log in with HTTP basic auth as user@tenant',
  },
  CredentialsMalformed: {
    code: 'GH_EDGE_CREDENTIALS_MALFORMED',
    status: 401,
    slug: 'unauthenticated',
    title: 'Authentication required',
    message: 'The Authorization header is not "Basic" and base64 of user@tenant:password',
  },
  Unauthorized: {
    code: 'GH_EDGE_UNAUTHORIZED',
    status: 401,
    slug: 'unauthenticated',
    title: 'Authentication required',
    message: '%s',
  },
  Unauthenticated: {
    code: 'GH_UNAUTHENTICATED',
    status: 401,
    slug: 'unauthenticated',
    title: 'Authentication required',
    message: '%s',
  },
  WrongTenantDomain: {
    code: 'GH_EDGE_WRONG_TENANT_DOMAIN',
    status: 403,
    slug: 'wrong-tenant-domain',
    title: "Another tenant's domain",
    message: '%s',
  },
  UnknownTenant: {
    code: 'GH_UNKNOWN_TENANT',
    status: 403,
    slug: 'unknown-tenant',
    title: 'Unknown tenant',
    message: 'Tenant "%s" does not exist',
  },

  // What is not there, or not in that form.
  NotFound: { code: 'GH_NOT_FOUND', status: 404, slug: 'not-found', title: 'Not found', message: '%s not found' },
  RouteNotFound: {
    code: 'GH_ROUTE_NOT_FOUND',
    status: 404,
    slug: 'route-not-found',
    title: 'No such route',
    message: 'No route for %s %s',
  },
  RequestTimeout: {
    code: 'GH_REQUEST_TIMEOUT',
    status: 408,
    slug: 'request-timeout',
    title: 'Request timeout',
    message: 'The request did not arrive in time',
  },
  Conflict: { code: 'GH_CONFLICT', status: 409, slug: 'conflict', title: 'Conflict', message: '%s' },
  BodyTooLarge: {
    code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    status: 413,
    slug: 'payload-too-large',
    title: 'Payload too large',
    message: 'Request body is larger than %s bytes',
  },
  UriTooLong: { code: 'FST_ERR_MAX_PARAM_LENGTH', status: 414, slug: 'uri-too-long', title: 'URI too long' },
  UnsupportedBodyEncoding: {
    code: 'GH_UNSUPPORTED_BODY_ENCODING',
    status: 415,
    slug: 'unsupported-content-encoding',
    title: 'Unsupported content coding',
    message: 'Request bodies may be coded with gzip, br or zstd, not %s',
  },
  UnsupportedMediaType: {
    code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    status: 415,
    slug: 'unsupported-media-type',
    title: 'Unsupported media type',
    message: '%s',
  },
  HeadersTooLarge: {
    code: 'GH_HEADERS_TOO_LARGE',
    status: 431,
    slug: 'headers-too-large',
    title: 'Request header fields too large',
    message: 'Request headers may take %s bytes at most',
  },

  // Too much, too often.
  RateLimited: {
    code: 'GH_RATE_LIMITED',
    status: 429,
    slug: 'rate-limited',
    title: 'Too many requests',
    message: '%s',
    retryAfterSeconds: 1,
  },
  TooManyLoginFailures: {
    code: 'GH_EDGE_LOGIN_THROTTLED',
    status: 429,
    slug: 'login-throttled',
    title: 'Too many failed logins',
    message: 'Too many failed logins; wait and try again',
  },
  UserConcurrency: {
    code: 'GH_TOO_MANY_IN_FLIGHT',
    status: 429,
    slug: 'too-many-in-flight',
    title: 'Too many requests in progress',
    message: 'You have %s requests in progress at the API, as many as one user may; retry when one is answered',
    retryAfterSeconds: 1,
  },

  // Ours: retry, or tell us.
  Internal: {
    code: 'GH_INTERNAL',
    status: 500,
    slug: 'internal',
    title: 'Internal server error',
    message: 'An internal error occurred; it has been logged with this request id',
  },
  AsyncConstraint: { code: 'FST_ERR_ASYNC_CONSTRAINT', status: 500, slug: 'internal', title: 'Internal server error' },
  UpstreamUnavailable: {
    code: 'GH_UPSTREAM_UNAVAILABLE',
    status: 502,
    slug: 'upstream-unavailable',
    title: 'Bad gateway',
    message: 'The API is unavailable; retry shortly',
  },
  DatabaseUnavailable: {
    code: 'GH_DATABASE_UNAVAILABLE',
    status: 503,
    slug: 'database-unavailable',
    title: 'Database unavailable',
    message: 'The database is unavailable; retry shortly',
    retryAfterSeconds: 5,
  },
  ShuttingDown: {
    code: 'GH_SHUTTING_DOWN',
    status: 503,
    slug: 'shutting-down',
    title: 'Shutting down',
    message: 'This instance is shutting down',
    retryAfterSeconds: 5,
  },
  UpstreamNotReady: {
    code: 'GH_UPSTREAM_NOT_READY',
    status: 503,
    slug: 'upstream-not-ready',
    title: 'Not ready',
    retryAfterSeconds: 5,
  },
  UpstreamStarting: {
    code: 'GH_UPSTREAM_STARTING',
    status: 503,
    slug: 'upstream-starting',
    title: 'Service starting',
    message: 'The API is starting; retry shortly',
    retryAfterSeconds: 1,
  },
  TenantFactsUnavailable: {
    code: 'GH_EDGE_TENANT_FACTS_UNAVAILABLE',
    status: 503,
    slug: 'tenant-facts-unavailable',
    title: 'Service unavailable',
    message: 'The edge cannot yet tell whose domain this is; retry shortly',
    retryAfterSeconds: 1,
  },
  RateLimitStoreDown: {
    code: 'GH_RATE_LIMIT_UNAVAILABLE',
    status: 503,
    slug: 'rate-limit-unavailable',
    title: 'Service unavailable',
    message: 'Rate limiting is unavailable; retry shortly',
  },
  BodyBufferFull: {
    code: 'GH_EDGE_BUSY',
    status: 503,
    slug: 'edge-busy',
    title: 'Service busy',
    message: 'The edge is holding as many request bodies as it may; retry shortly',
    retryAfterSeconds: 1,
  },
  UpstreamTimeout: {
    code: 'GH_UPSTREAM_TIMEOUT',
    status: 504,
    slug: 'upstream-timeout',
    title: 'Gateway timeout',
    message: 'The API did not answer in time',
  },
} as const satisfies Record<string, ProblemDefinition>

export type ProblemName = keyof typeof PROBLEMS
export type Problem = (typeof PROBLEMS)[ProblemName]

/** One argument per `%s` in the message. */
type MessageArgs<M> = M extends `${string}%s${infer Rest}` ? [string | number, ...MessageArgs<Rest>] : []
type ErrorOf<P extends Problem> = createError.FastifyErrorConstructor<
  { code: P['code']; statusCode: P['status'] },
  MessageArgs<P extends { message: string } ? P['message'] : ''>
>

/** The throwable form of each problem (@fastify/error), by the same names: `throw new Errors.NotFound('Project')`. */
export const Errors = Object.fromEntries(
  Object.entries(PROBLEMS).map(([name, problem]: [string, ProblemDefinition]) => [
    name,
    createError(problem.code, problem.message ?? problem.title, problem.status),
  ]),
) as {
  [Name in ProblemName]: ErrorOf<(typeof PROBLEMS)[Name]>
}

const BY_CODE = new Map<string, Problem>(Object.values(PROBLEMS).map(problem => [problem.code, problem]))

/** The catalogue's entry for a code, if it has one. */
export const knownProblem = (code: string | undefined): Problem | undefined =>
  code !== undefined ? BY_CODE.get(code) : undefined

/** The catalogue's entry for a code; a code it does not know (a framework's) keeps its status as a generic type. */
export function problemOf(code: string | undefined, status: number): ProblemDefinition {
  const known = knownProblem(code)
  if (known !== undefined) return known
  const generic = status >= 500 ? PROBLEMS.Internal : PROBLEMS.BadRequest
  return { ...generic, code: code ?? generic.code, status }
}

/** The HTTP status an error stands for: its own if it is an error status, else 500. */
export const statusOf = (error: { statusCode?: unknown }): number =>
  typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  code: string
  requestId?: string
  errors?: Array<{ in: string; pointer: string; detail: string }>
}

/** The body of one occurrence; `detail` defaults to the problem's fixed message when it has no `%s`. */
export function problemBody(
  problem: ProblemDefinition,
  detail?: string,
  extra: Partial<ProblemBody> = {},
): ProblemBody {
  const fixed = problem.message !== undefined && !problem.message.includes('%s') ? problem.message : undefined
  const text = detail ?? fixed
  return {
    type: PROBLEM_TYPE_BASE + problem.slug,
    title: problem.title,
    status: problem.status,
    ...(text !== undefined ? { detail: text } : {}),
    ...extra,
    code: problem.code,
  }
}

/** Sends one occurrence as application/problem+json, with the request's URL and id, and the problem's Retry-After. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  problem: ProblemDefinition,
  detail?: string,
  errors?: ProblemBody['errors'],
): FastifyReply {
  if (problem.retryAfterSeconds !== undefined && reply.getHeader('retry-after') === undefined) {
    reply.header('retry-after', String(problem.retryAfterSeconds))
  }
  const occurrence = { instance: request.url, requestId: request.id, ...(errors !== undefined ? { errors } : {}) }
  const body = problemBody(problem, detail, occurrence)
  return reply.code(problem.status).type('application/problem+json').send(body)
}

/** The 404 for a path no route serves, with the path (never the query) in its detail. */
export function sendRouteNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]
  return sendProblem(
    request,
    reply,
    PROBLEMS.RouteNotFound,
    format(PROBLEMS.RouteNotFound.message, request.method, path),
  )
}
