// The edge's error policy: what the proxy itself refuses leaves as RFC 9457 problem+json (common/problem.ts);
// 5xx details are masked and logged with the request id.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { knownProblem, PROBLEMS, problemOf, sendProblem, sendRouteNotFound, statusOf } from '../../common/problem.ts'

// Refusals that stand for an outage the edge already logs once (when it starts and when it ends): each
// refused request is logged at info with its request id, not as one more warning per request.
const OUTAGE_REFUSALS = new Set<string>(
  [PROBLEMS.RateLimitStoreDown, PROBLEMS.UpstreamStarting, PROBLEMS.BodyBufferFull].map(problem => problem.code),
)

// What streaming an answer into a response whose client has already hung up fails with (undici aborts the
// API's body when Fastify finds the response closed).
const CLIENT_GONE_ERRORS = new Set(['UND_ERR_ABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])

/** The client closed its connection (HTTP/1.1) or reset its stream (HTTP/2): nobody is waiting for an answer. */
function clientGone(request: FastifyRequest, reply: FastifyReply): boolean {
  const response = reply.raw as { destroyed?: boolean; stream?: { destroyed?: boolean } }
  return response.destroyed === true || response.stream?.destroyed === true || request.raw.socket?.destroyed === true
}

async function problemDetails(app: FastifyInstance): Promise<void> {
  app.setErrorHandler(function renderEdgeProblem(error: FastifyError, request, reply) {
    const status = statusOf(error)
    if (status >= 500 && knownProblem(error.code) === undefined) {
      // A client that hung up is not a failure of the edge (a load test's end, a phone in a tunnel): one info line, no
      // stack.
      if (CLIENT_GONE_ERRORS.has(error.code ?? '') && clientGone(request, reply)) {
        request.log.info({ code: error.code }, 'client closed the connection before the answer was sent')
      } else {
        request.log.error({ err: error }, 'edge request failed')
      }
      return sendProblem(request, reply, PROBLEMS.Internal)
    }
    if (status >= 500) {
      request.log[OUTAGE_REFUSALS.has(error.code) ? 'info' : 'warn']({ code: error.code }, error.message)
    }
    return sendProblem(request, reply, problemOf(error.code, status), error.message)
  })

  app.setNotFoundHandler(function edgeRouteNotFound(request, reply) {
    return sendRouteNotFound(request, reply)
  })
}

export default fp(problemDetails, { name: 'edge-problem-details', fastify: '5.x' })
