// The edge's error policy: what the proxy itself refuses leaves as RFC 9457 problem+json; 5xx details are
// masked and logged with the request id.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { sendProblem } from '../../common/problem.js'
import { EDGE_PROBLEMS } from '../errors.js'

// Refusals that stand for an outage the edge already logs once (when it starts and when it ends): each
// refused request is logged at info with its request id, not as one more warning per request.
const OUTAGE_REFUSALS = new Set(['GH_RATE_LIMIT_UNAVAILABLE', 'GH_UPSTREAM_STARTING', 'GH_EDGE_BUSY'])

// Refusals a client should retry soon: they say when (RFC 9110 §10.2.3).
const RETRY_AFTER_SECONDS: Record<string, string> = { GH_UPSTREAM_STARTING: '1', GH_EDGE_BUSY: '1', GH_TOO_MANY_IN_FLIGHT: '1', GH_EDGE_TENANT_FACTS_UNAVAILABLE: '1' }

// What streaming an answer into a response whose client has already hung up fails with (undici aborts the
// API's body when Fastify finds the response closed).
const CLIENT_GONE_ERRORS = new Set(['UND_ERR_ABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])

/** The client closed its connection (HTTP/1.1) or reset its stream (HTTP/2): nobody is waiting for an answer. */
function clientGone (request: FastifyRequest, reply: FastifyReply): boolean {
  const response = reply.raw as { destroyed?: boolean, stream?: { destroyed?: boolean } }
  return response.destroyed === true || response.stream?.destroyed === true || request.raw.socket?.destroyed === true
}

async function problemDetails (app: FastifyInstance): Promise<void> {
  app.setErrorHandler(function renderEdgeProblem (error: FastifyError, request, reply) {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    const known = error.code !== undefined ? EDGE_PROBLEMS[error.code] : undefined
    if (status >= 500 && known === undefined) {
      // A client that hung up is not a failure of the edge (a load test's end, a phone in a tunnel): one info line, no stack.
      if (CLIENT_GONE_ERRORS.has(error.code ?? '') && clientGone(request, reply)) request.log.info({ code: error.code }, 'client closed the connection before the answer was sent')
      else request.log.error({ err: error }, 'edge request failed')
      return sendProblem(request, reply, { status, code: 'GH_INTERNAL', ...EDGE_PROBLEMS.GH_INTERNAL!, detail: 'An internal error occurred; it has been logged with this request id' })
    }
    if (status >= 500) request.log[OUTAGE_REFUSALS.has(error.code) ? 'info' : 'warn']({ code: error.code }, error.message)
    const retryAfter = RETRY_AFTER_SECONDS[error.code]
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
    return sendProblem(request, reply, {
      status,
      code: error.code ?? 'GH_BAD_REQUEST',
      ...(known ?? { slug: status === 401 ? 'unauthenticated' : 'bad-request', title: status === 401 ? 'Authentication required' : 'Bad request' }),
      detail: error.message,
    })
  })

  app.setNotFoundHandler(function edgeRouteNotFound (request, reply) {
    return sendProblem(request, reply, { status: 404, code: 'GH_ROUTE_NOT_FOUND', ...EDGE_PROBLEMS.GH_ROUTE_NOT_FOUND!, detail: `No route for ${request.method} ${request.url.split('?')[0]}` })
  })
}

export default fp(problemDetails, { name: 'edge-problem-details', fastify: '5.x' })
