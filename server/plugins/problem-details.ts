// One error policy for the whole API: every error leaves as RFC 9457 application/problem+json.
// 4xx details are passed on (they help the client fix its request); 5xx details are masked and logged.
// @see https://www.rfc-editor.org/rfc/rfc9457
import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import {
  Errors,
  knownProblem,
  PROBLEMS,
  problemOf,
  sendProblem,
  sendRouteNotFound,
  statusOf,
  type ProblemBody,
} from '../../common/problem.ts'
import { classifyDatabaseError } from '../db/database-errors.ts'
import { issueMessage } from '../schemas/validate.ts'

interface ValidationIssue {
  keyword?: string
  instancePath?: string
  schemaPath?: string
  message?: string
  params?: Record<string, unknown>
}
type IssueList = NonNullable<ProblemBody['errors']>

// A body of a megabyte could hold thousands of problems; the first ones are enough to fix a request.
const MAX_REPORTED_ISSUES = 20

// TypeBox names the union (`#/properties/x`), Ajv the keyword (`#/properties/x/anyOf`); branches follow with
// `/anyOf/<n>`.
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
function validationErrors(error: FastifyError): IssueList {
  const where = (error as { validationContext?: string }).validationContext ?? 'body'
  const issues = (error.validation as ValidationIssue[] | undefined) ?? []
  const unions = issues.filter(issue => issue.keyword === 'anyOf').map(branchPrefix)
  const inUnion = (issue: ValidationIssue): boolean =>
    unions.some(prefix => issue.schemaPath?.startsWith(prefix) === true)
  const entries: IssueList = []
  for (const issue of issues) {
    const path = issue.instancePath ?? ''
    const params = issue.params ?? {}
    if (issue.keyword === 'additionalProperties') {
      const names = Array.isArray(params.additionalProperties)
        ? params.additionalProperties
        : [params.additionalProperty]
      for (const name of names) {
        if (typeof name === 'string') {
          entries.push({ in: where, pointer: `${path}/${escapePointer(name)}`, detail: 'is not a known field' })
        }
      }
    } else if (issue.keyword === 'boolean' && issue.schemaPath?.endsWith('/additionalProperties') === true) {
      continue // TypeBox's per-property echo of the additionalProperties issue above
    } else if (issue.keyword === 'anyOf') {
      const prefix = branchPrefix(issue)
      const branches = issues.filter(
        other =>
          other.instancePath === path && other.schemaPath?.startsWith(prefix) === true && other.message !== undefined,
      )
      const detail = branches.length > 0 ? [...new Set(branches.map(issueMessage))].join(', or ') : issueMessage(issue)
      entries.push({ in: where, pointer: path || '/', detail })
    } else if (!inUnion(issue)) {
      entries.push({ in: where, pointer: path || '/', detail: issueMessage(issue) })
    }
  }
  return entries.slice(0, MAX_REPORTED_ISSUES)
}

function validationDetail(errors: IssueList): string {
  const shown = errors
    .slice(0, 3)
    .map(issue => `${issue.in}${issue.pointer === '/' ? '' : issue.pointer} ${issue.detail}`)
  return `Invalid request: ${shown.join('; ')}${errors.length > shown.length ? `; and ${errors.length - shown.length} more` : ''}`
}

/** What a 415 says: which media type was refused and which are accepted. */
export function unsupportedMediaTypeDetail(given: string | undefined, accepted: readonly string[]): string {
  const refused = given === undefined ? 'A body without a Content-Type' : `Content-Type ${JSON.stringify(given)}`
  return `${refused} is not accepted here; send ${accepted.join(' or ')}`
}

/** Turns anything thrown into the error the client should see. */
function normalise(error: FastifyError): FastifyError {
  if (typeof error.statusCode === 'number' && error.statusCode < 500) return error
  const failure = classifyDatabaseError(error)
  switch (failure.kind) {
    case 'unavailable':
      return new Errors.DatabaseUnavailable()
    case 'not-found':
      return new Errors.NotFound('Resource')
    case 'conflict':
      return new Errors.Conflict(failure.detail)
    case 'invalid':
      return new Errors.InvalidInput(failure.detail)
    default:
      return error
  }
}

export interface ProblemDetailsOptions {
  /** The media types request bodies may have: a 415 names them. */
  acceptedMediaTypes: readonly string[]
}

async function problemDetails(app: FastifyInstance, options: ProblemDetailsOptions): Promise<void> {
  app.setErrorHandler(function renderProblem(rawError: FastifyError, request, reply) {
    const error = normalise(rawError)
    const status = statusOf(error)
    if (status >= 500) {
      request.log.error({ err: rawError }, 'request failed')
      // Only the catalogue's own 5xx (database unavailable, …) keep their detail; anything else is masked.
      const known = knownProblem(error.code)
      if (known !== undefined) return sendProblem(request, reply, known, error.message)
      return sendProblem(request, reply, PROBLEMS.Internal)
    }
    request.log.info({ code: error.code, status }, error.message)
    if (error.validation !== undefined) {
      const errors = validationErrors(error)
      return sendProblem(request, reply, PROBLEMS.Validation, validationDetail(errors), errors)
    }
    if (error.code === PROBLEMS.UnsupportedMediaType.code) {
      return sendProblem(
        request,
        reply,
        PROBLEMS.UnsupportedMediaType,
        unsupportedMediaTypeDetail(request.headers['content-type'], options.acceptedMediaTypes),
      )
    }
    const code = error.code ?? (status === 429 ? PROBLEMS.RateLimited.code : undefined)
    return sendProblem(request, reply, problemOf(code, status), error.message)
  })

  app.setNotFoundHandler(function routeNotFound(request, reply) {
    return sendRouteNotFound(request, reply)
  })
}

export default fp(problemDetails, { name: 'problem-details', fastify: '5.x' })
