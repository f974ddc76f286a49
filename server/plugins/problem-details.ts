// One error policy for the whole API: every error leaves as RFC 9457 application/problem+json.
// 4xx details are passed on (they help the client fix its request); 5xx details are masked and logged.
// @see https://www.rfc-editor.org/rfc/rfc9457
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { classifyDatabaseError } from '../db/database-errors.js'
import { Errors, problemType, RETRY_AFTER_SECONDS } from '../errors.js'
import type { Problem } from '../schemas/problem.js'

interface ValidationIssue { keyword?: string, instancePath?: string, schemaPath?: string, message?: string, params?: Record<string, unknown> }
type IssueList = NonNullable<Problem['errors']>

// A body of a megabyte could hold thousands of problems; the first ones are enough to fix a request.
const MAX_REPORTED_ISSUES = 20

// TypeBox names the union (`#/properties/x`), Ajv the keyword (`#/properties/x/anyOf`); branches follow with `/anyOf/<n>`.
const branchPrefix = (issue: ValidationIssue): string => {
  const path = issue.schemaPath ?? ''
  return path.endsWith('/anyOf') ? `${path}/` : `${path}/anyOf/`
}

const escapePointer = (name: string): string => name.replaceAll('~', '~0').replaceAll('/', '~1')

/**
 * One entry per problem, each with a JSON pointer to the offending value. TypeBox (the /api/v1 validator)
 * and Ajv (Fastify's default) both emit Ajv-shaped issues; an unknown property is reported as the property
 * itself, and a union's branch failures are folded into one "must … or …" entry.
 */
function validationErrors (error: FastifyError): IssueList {
  const where = (error as { validationContext?: string }).validationContext ?? 'body'
  const issues = (error.validation as ValidationIssue[] | undefined) ?? []
  const unions = issues.filter((issue) => issue.keyword === 'anyOf').map(branchPrefix)
  const inUnion = (issue: ValidationIssue): boolean => unions.some((prefix) => issue.schemaPath?.startsWith(prefix) === true)
  const entries: IssueList = []
  for (const issue of issues) {
    const path = issue.instancePath ?? ''
    const params = issue.params ?? {}
    if (issue.keyword === 'additionalProperties') {
      const names = Array.isArray(params.additionalProperties) ? params.additionalProperties : [params.additionalProperty]
      for (const name of names) if (typeof name === 'string') entries.push({ in: where, pointer: `${path}/${escapePointer(name)}`, detail: 'is not a known field' })
    } else if (issue.keyword === 'boolean' && issue.schemaPath?.endsWith('/additionalProperties') === true) {
      continue // TypeBox's per-property echo of the additionalProperties issue above
    } else if (issue.keyword === 'anyOf') {
      const prefix = branchPrefix(issue)
      const branches = issues.filter((other) => other.instancePath === path && other.schemaPath?.startsWith(prefix) === true && other.message !== undefined)
      const detail = branches.length > 0 ? [...new Set(branches.map((branch) => branch.message))].join(', or ') : issue.message
      entries.push({ in: where, pointer: path || '/', detail: detail ?? 'is invalid' })
    } else if (!inUnion(issue)) {
      entries.push({ in: where, pointer: path || '/', detail: issue.message ?? 'is invalid' })
    }
  }
  return entries.slice(0, MAX_REPORTED_ISSUES)
}

function validationDetail (errors: IssueList): string {
  const shown = errors.slice(0, 3).map((issue) => `${issue.in}${issue.pointer === '/' ? '' : issue.pointer} ${issue.detail}`)
  return `Invalid request: ${shown.join('; ')}${errors.length > shown.length ? `; and ${errors.length - shown.length} more` : ''}`
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
      const errors = validationErrors(error)
      return sendProblem(request, reply, 400, 'FST_ERR_VALIDATION', validationDetail(errors), errors)
    }
    if (status === 429 && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1')
    return sendProblem(request, reply, status, error.code ?? (status === 429 ? 'GH_RATE_LIMITED' : 'GH_BAD_REQUEST'), error.message)
  })

  app.setNotFoundHandler(function routeNotFound (request, reply) {
    return sendProblem(request, reply, 404, 'GH_ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`)
  })
}

export default fp(problemDetails, { name: 'problem-details', fastify: '5.x' })
