// One error policy for the whole API: every error leaves as RFC 9457 application/problem+json.
// 4xx details are passed on (they help the client fix its request); 5xx details are masked and logged.
// @see https://www.rfc-editor.org/rfc/rfc9457
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { classifyDatabaseError } from '../db/database-errors.js'
import { Errors, problemType } from '../errors.js'
import type { Problem } from '../schemas/problem.js'

const RETRY_AFTER_SECONDS = '5'

interface ValidationIssue { instancePath?: string, message?: string, params?: Record<string, unknown> }

function validationErrors (error: FastifyError): Problem['errors'] {
  const where = (error as { validationContext?: string }).validationContext ?? 'body'
  return (error.validation as ValidationIssue[] | undefined)?.map((issue) => {
    const extra = issue.params?.additionalProperty
    const pointer = (issue.instancePath ?? '') + (typeof extra === 'string' ? `/${extra}` : '')
    return { in: where, pointer: pointer || '/', detail: issue.message ?? 'is invalid' }
  })
}

/** Turns anything thrown into the error the client should see. */
function normalise (error: FastifyError): FastifyError {
  if (typeof error.statusCode === 'number' && error.statusCode < 500) return error
  const failure = classifyDatabaseError(error)
  switch (failure.kind) {
    case 'unavailable': return new Errors.DatabaseUnavailable()
    case 'not-found': return new Errors.NotFound('Resource')
    case 'conflict': return new Errors.Conflict(failure.detail)
    case 'invalid': return new Errors.InvalidInput(failure.detail)
    default: return error
  }
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string | undefined, errors?: Problem['errors']): FastifyReply {
  const problem: Problem = {
    ...problemType(code),
    status,
    code,
    instance: request.url,
    requestId: request.id,
    ...(detail !== undefined ? { detail } : {}),
    ...(errors !== undefined ? { errors } : {}),
  }
  return reply.code(status).type('application/problem+json').send(problem)
}

async function problemDetails (app: FastifyInstance): Promise<void> {
  app.setErrorHandler(function renderProblem (rawError: FastifyError, request, reply) {
    const error = normalise(rawError)
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: rawError }, 'request failed')
      if (status === 503) reply.header('retry-after', RETRY_AFTER_SECONDS)
      const code = error.code?.startsWith('GH_') === true ? error.code : 'GH_INTERNAL'
      const masked = code === 'GH_INTERNAL' ? 'An internal error occurred; it has been logged with this request id' : error.message
      return sendProblem(request, reply, status, code, masked)
    }
    request.log.info({ code: error.code, status }, error.message)
    if (error.validation !== undefined) {
      return sendProblem(request, reply, 400, 'FST_ERR_VALIDATION', error.message, validationErrors(error))
    }
    if (status === 429 && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1')
    return sendProblem(request, reply, status, error.code ?? (status === 429 ? 'GH_RATE_LIMITED' : 'GH_BAD_REQUEST'), error.message)
  })

  app.setNotFoundHandler(function routeNotFound (request, reply) {
    return sendProblem(request, reply, 404, 'GH_ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`)
  })
}

export default fp(problemDetails, { name: 'problem-details', fastify: '5.x' })
